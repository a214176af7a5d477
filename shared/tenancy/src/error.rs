use thiserror::Error;

#[derive(Debug, Error)]
pub enum TenancyError {
    #[error("could not create the tenant's keys")]
    Keyring(#[from] cdp_keyring::KeyringError),
    #[error("a rate limit needs at least 1 event per second and a burst no smaller than the rate")]
    InvalidLimit,
    #[error("the operating system's random generator failed")]
    Randomness,
    #[error("tenant query failed")]
    Db(#[from] sea_orm::DbErr),
}
