use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("profile store query failed")]
    Db(#[from] sea_orm::DbErr),
    #[error("stored {0} cannot be read")]
    Corrupt(&'static str),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the generation was replaced while it was being projected")]
    Superseded,
}
