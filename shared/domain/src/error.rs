use thiserror::Error;

/// Why a value from outside could not become a domain value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DomainError {
    #[error("invalid {kind} id: {reason}")]
    InvalidId { kind: &'static str, reason: String },
    #[error("invalid tenant name: {0}")]
    InvalidTenantName(&'static str),
    #[error("invalid identity: {0}")]
    InvalidIdentity(&'static str),
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    #[error("unknown role: use owner, admin, marketer, analyst or compliance")]
    UnknownRole,
    #[error("unknown permission")]
    UnknownPermission,
    #[error("invalid e-mail address")]
    InvalidEmail,
}
