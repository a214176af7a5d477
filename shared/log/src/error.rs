use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogError {
    #[error("event {index} of the batch is invalid: {reason}")]
    InvalidEvent { index: usize, reason: &'static str },
    #[error("the log of tenant {tenant} holds a row that cannot be read: {reason}")]
    CorruptRow { tenant: String, reason: String },
    #[error("a new data key of the batch lost its subject to a key stored first")]
    NewKeyTaken,
    #[error("storing the batch's new data keys failed")]
    Keys(#[source] cdp_keyring::KeyringError),
    #[error("event log query failed")]
    Db(#[from] sea_orm::DbErr),
}
