//! Database access shared by every role: one connection type for SQLite (the embedded
//! default) and PostgreSQL, migrations, and the one place where database errors are classified.

mod checkpoint;
mod connect;
mod error;
mod fast_path;
mod migrate;
mod nodelay;
mod sql;
mod write;

pub use checkpoint::{CHECKPOINT_EVERY, run_checkpoints};
pub use connect::{
    Backend, ConnectOptions, backend_of, connect, create_private_dir, ping, sqlite_url,
};
pub use error::{StorageError, caused_by_full_storage, is_unique_violation};
pub use fast_path::{FastPath, PAUSE as REDIS_PAUSE};
pub use migrate::migrate;
pub use sea_orm::{DatabaseConnection, DatabaseTransaction};
pub use sql::{one_of, power_of_two_chunks};

pub use write::{WriteTransaction, WriteTurn, begin_write, write_turn};
