//! Destinations: the systems a tenant's events and audience changes are handed to.
//!
//! This crate holds what a delivery is, free of HTTP and storage: for now the signature a
//! webhook delivery carries, as the Standard Webhooks specification defines it, so that a
//! receiver's existing library verifies what we send.

mod error;
mod signature;

pub use error::DestinationError;
pub use signature::{
    DEFAULT_TOLERANCE_SECONDS, SECRET_PREFIX, SignedHeaders, SigningSecret, sign, verify,
};
