use std::error::Error as StdError;
use std::fmt::Write;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    InvalidInput(#[from] cdp_domain::DomainError),
    #[error("a master key is required with PostgreSQL: set CDP_MASTER_KEY or CDP_MASTER_KEY_FILE")]
    MasterKeyRequired,
    #[error("invalid REDIS_URL")]
    RedisUrl(#[source] redis::RedisError),
    #[error("could not listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed")]
    Server(#[source] std::io::Error),
    #[error("import: {0}")]
    Import(String),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("dispatcher: {0}")]
    Dispatch(#[from] cdp_dispatcher::DispatchError),
    #[error("projection: {0}")]
    Projection(String),
    #[error(transparent)]
    Ingest(#[from] cdp_ingest::IngestError),
    #[error(transparent)]
    Storage(#[from] cdp_storage::StorageError),
    #[error(transparent)]
    Keyring(#[from] cdp_keyring::KeyringError),
    #[error(transparent)]
    Tenancy(#[from] cdp_tenancy::TenancyError),
    #[error(transparent)]
    Auth(#[from] cdp_auth::AuthError),
    #[error(transparent)]
    Audit(#[from] cdp_audit::AuditError),
}

/// An error and all of its causes on one line, for logs and the terminal.
pub fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}
