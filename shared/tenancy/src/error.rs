use thiserror::Error;

#[derive(Debug, Error)]
pub enum TenancyError {
    #[error("could not create the tenant's keys")]
    Keyring(#[from] cdp_keyring::KeyringError),
    #[error("a rate limit needs at least 1 event per second and a burst no smaller than the rate")]
    InvalidLimit,
    #[error("{0}")]
    Conflict(&'static str),
    #[error("{0} cannot be read: the stored value is invalid")]
    Corrupt(&'static str),
    #[error("a tenant is deleted with its own operation, which destroys its keys")]
    UseDelete,
    #[error("the operating system's random generator failed")]
    Randomness,
    #[error("tenant query failed")]
    Db(#[from] sea_orm::DbErr),
}
