use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogError {
    #[error("event {index} of the batch is invalid: {reason}")]
    InvalidEvent { index: usize, reason: &'static str },
    #[error("the log of tenant {tenant} holds a row that cannot be read: {reason}")]
    CorruptRow { tenant: String, reason: String },
    #[error("event log query failed")]
    Db(#[from] sea_orm::DbErr),
}
