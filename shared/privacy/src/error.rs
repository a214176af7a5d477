use thiserror::Error;

#[derive(Debug, Error)]
pub enum PrivacyError {
    #[error("privacy request store query failed")]
    Db(#[from] sea_orm::DbErr),
    #[error("stored privacy request {0} cannot be read")]
    Corrupt(&'static str),
}
