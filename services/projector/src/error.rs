use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProjectionError {
    /// An event that cannot be applied: the tenant stops at it until fixed.
    #[error("event {seq} cannot be applied: {reason}")]
    Event { seq: i64, reason: String },
    /// The lease passed to another process; it carries on.
    #[error("the lease on this tenant was lost")]
    LeaseLost,
    #[error("storage is unavailable")]
    Store(#[from] cdp_profile_store::StoreError),
    #[error("storage is unavailable")]
    Log(#[from] cdp_log::LogError),
    #[error("storage is unavailable")]
    Db(#[from] sea_orm::DbErr),
    #[error("the key store is unavailable")]
    Keyring(#[source] cdp_keyring::KeyringError),
    #[error("the audit log is unavailable")]
    Audit(#[source] cdp_audit::AuditError),
    #[error("the privacy request store is unavailable")]
    Privacy(#[source] cdp_privacy::PrivacyError),
}
