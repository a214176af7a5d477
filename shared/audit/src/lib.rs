//! The audit log: who did what, on what, when, from where, with which outcome. Every
//! administrative and compliance action is appended to its tenant's chain (platform actions
//! to the platform's); each entry carries the hash of the one before, so an edited, removed
//! or reordered entry is found by [`verify`]. The table is append-only in the database, like
//! the event log. Entries hold ids, never personal data of data subjects.

mod chain;
mod entry;
mod error;
mod store;

pub use chain::{BrokenLink, Verification, verify};
pub use entry::{Actor, ActorKind, AuditEntry, AuditFilter, Chain, Outcome, StoredEntry};
pub use error::AuditError;
pub use store::{append, append_now, list};
