use cdp_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::StorageError;
use crate::connect::{Backend, backend_of};

/// An arbitrary constant naming the migration lock among PostgreSQL advisory locks.
const MIGRATION_LOCK: i64 = 0x0cdb_0001;

/// Applies every pending migration. Safe to call from several processes at once: on
/// PostgreSQL they take turns under an advisory lock, and each finds the work done.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StorageError> {
    match backend_of(db) {
        Backend::Postgres => {
            let txn = db.begin().await.map_err(StorageError::Migrate)?;
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
                .await
                .map_err(StorageError::Migrate)?;
            Migrator::up(&txn, None)
                .await
                .map_err(StorageError::Migrate)?;
            txn.commit().await.map_err(StorageError::Migrate)?;
        }
        Backend::Sqlite => {
            Migrator::up(db, None)
                .await
                .map_err(StorageError::Migrate)?;
        }
    }
    tracing::debug!("database schema is up to date");
    Ok(())
}
