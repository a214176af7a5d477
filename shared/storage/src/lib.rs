//! Database access shared by every role: one connection type for SQLite (the embedded
//! default) and PostgreSQL, migrations, and the one place where database errors are classified.

mod checkpoint;
mod connect;
mod error;
mod migrate;
mod nodelay;
mod sql;

pub use checkpoint::{CHECKPOINT_EVERY, run_checkpoints};
pub use connect::{
    Backend, ConnectOptions, backend_of, connect, create_private_dir, ping, sqlite_url,
};
pub use error::{StorageError, is_unique_violation};
pub use migrate::migrate;
pub use sea_orm::{DatabaseConnection, DatabaseTransaction};
pub use sql::{one_of, power_of_two_chunks};

use sea_orm::{DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait};

/// Starts a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so a transaction never fails half-way when it upgrades from reading
/// to writing; PostgreSQL ignores the mode.
pub async fn begin_write<C: TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}
