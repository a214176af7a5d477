//! The append-only event log: one log per tenant, numbered by a gapless sequence.
//!
//! Appenders of one tenant take turns on the tenant's head row for the length of their
//! transaction. That makes sequence numbers gapless and makes them commit in order, so a
//! reader that has seen sequence `n` can never later find a committed `n - 1` it skipped.
//! Rows are never updated or deleted: the database refuses it with a trigger.

mod append;
#[cfg(feature = "bench")]
mod bench;
mod error;
mod event;
mod group_commit;
mod read;
mod store;
mod volume;

pub use append::{Appended, append, lock_head};
pub use error::LogError;
pub use event::{NewEvent, StoredEvent};
pub use group_commit::{CommitError, GroupCommitOptions, GroupCommitter, Reservation};
pub use read::{head, read_after, read_at, stored_bytes};
pub use volume::{HourlyVolume, hourly_volume};

/// Longest client message id the log stores (it is part of a unique index).
pub const MAX_MESSAGE_ID_BYTES: usize = 256;
/// The PostgreSQL notification channel on which every append announces its tenant id.
pub const APPENDED_CHANNEL: &str = "cdp_log_appended";
/// Longest event type name.
pub const MAX_EVENT_TYPE_BYTES: usize = 64;
