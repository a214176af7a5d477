use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuditError {
    #[error("audit log query failed")]
    Db(#[from] sea_orm::DbErr),
}
