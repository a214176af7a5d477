//! Destinations: the systems a tenant's events and audience changes are handed to.
//!
//! What a destination is (where it sends, for which purpose, what it receives, how bodies
//! are transformed), which events pass its filter, when a failed delivery is tried again
//! and when a destination is paused, which addresses may be reached, and the signature a
//! webhook delivery carries (Standard Webhooks, so a receiver's existing library verifies
//! what we send) are decided here without I/O; `store` keeps them.

mod delivery;
mod entities;
mod error;
mod filter;
mod mapping;
mod network;
mod path;
mod retry;
mod signature;
mod spec;
pub mod store;

/// The platform-secret purpose signing secrets are sealed for, under the master key.
pub const SECRET_PURPOSE: &str = "destination-signing-secret";

pub use delivery::{
    AudienceChange, DeliveryKind, DeliveryStatus, Position, audience_body, event_body, webhook_id,
};
pub use error::DestinationError;
pub use filter::{EventFacts, EventFilter, FieldCondition, FieldOp};
pub use mapping::{Mapping, Rename};
pub use network::{NetworkPolicy, is_public};
pub use path::FieldPath;
pub use retry::{Breaker, BreakerState, Phase, RetryPolicy};
pub use signature::{
    DEFAULT_TOLERANCE_SECONDS, SECRET_PREFIX, SignedHeaders, SigningSecret, sign, verify,
};
pub use spec::{DestinationSpec, Receives, check_purpose};
