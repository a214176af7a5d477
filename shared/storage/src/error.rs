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
