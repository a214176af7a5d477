//! Plain domain types shared by every role. Nothing here knows about HTTP or databases,
//! so everything is unit-tested without I/O.

pub mod access;
pub mod email;
pub mod error;
pub mod event;
pub mod id;
pub mod identity;
pub mod tenant;

pub use access::{Permission, Role};
pub use email::Email;
pub use error::DomainError;
pub use event::{EventType, SYSTEM_MESSAGE_ID_PREFIX, Seq};
pub use id::{
    CredentialId, DataKeyId, DestinationId, EventId, Id, IdKind, ImportId, PrivacyRequestId,
    ProfileId, SegmentId, SourceId, TenantId, TenantKeyId, UserId,
};
pub use identity::{Identity, IdentityKind, KeySubject};
pub use tenant::TenantName;
