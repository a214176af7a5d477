use sea_orm::{DbErr, SqlErr};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("unsupported database URL {0:?}: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    #[error("could not connect to the database at {url}")]
    Connect {
        url: String,
        #[source]
        source: DbErr,
    },
    #[error("could not create the data directory {path}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database migration failed")]
    Migrate(#[source] DbErr),
    #[error("database error")]
    Db(#[from] DbErr),
}

/// True when the database refused a row because a unique key already holds its value.
/// Every "insert unless present" in the project asks this one function.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// SQLite's result code for a write the disk had no room for (`SQLITE_FULL`).
const SQLITE_FULL: &str = "13";
/// PostgreSQL's SQLSTATE `disk_full`.
const POSTGRES_DISK_FULL: &str = "53100";

/// True when the database refused a write because its disk (or, for SQLite, its file's
/// size limit) is full. Operators must act on it, so it is told apart from the transient
/// failures that a retry alone heals.
fn is_out_of_space(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as SqlxError;
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    match &**e {
        SqlxError::Database(db) => db
            .code()
            .is_some_and(|code| code == SQLITE_FULL || code == POSTGRES_DISK_FULL),
        SqlxError::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    }
}

/// [`is_out_of_space`] for any error whose cause chain holds a database error, however
/// deep: the log and the keyring wrap theirs.
pub fn caused_by_full_storage(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<DbErr>().is_some_and(is_out_of_space) {
            return true;
        }
        next = e.source();
    }
    false
}
