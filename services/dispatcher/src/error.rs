use thiserror::Error;

#[derive(Debug, Error)]
pub enum DispatchError {
    #[error("storage is unavailable")]
    Destinations(#[from] cdp_destinations::DestinationError),
    #[error("storage is unavailable")]
    Store(#[from] cdp_profile_store::StoreError),
    #[error("storage is unavailable")]
    Log(#[from] cdp_log::LogError),
    #[error("storage is unavailable")]
    Db(#[from] sea_orm::DbErr),
    #[error("the key store is unavailable")]
    Keyring(#[from] cdp_keyring::KeyringError),
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
