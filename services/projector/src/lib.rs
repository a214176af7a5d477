//! The projector role: follows each tenant's log from its checkpoint and keeps the tenant's
//! profiles up to date.
//!
//! It is woken by appends (the group committer's signal in process; PostgreSQL NOTIFY
//! across processes) and, as a safety net, by a periodic sweep for tenants that lag. One
//! process works a tenant at a time, under a lease. Each batch's projection writes, the
//! merge records it appends to the log, and its checkpoint commit in one transaction. An
//! event that cannot be applied stops its tenant with the reason recorded, never skipped.

mod audience;
mod batch;
mod cache;
mod decode;
mod erase;
mod error;
mod listen;
mod queue;
mod retention;
mod worker;

pub use audience::{SEGMENT_ENTERED, SEGMENT_EXITED};
pub use batch::{Progress, audience_step, project_tenant};
pub use cache::ProfileCaches;
pub use error::ProjectionError;
pub use retention::{RETENTION_SWEEP_EVERY, sweep_retention};
pub use worker::{Projector, ProjectorOptions};
