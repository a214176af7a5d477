//! The key hierarchy and crypto-shredding.
//!
//! A master key (outside the database) wraps one key per tenant; the tenant key wraps one
//! data key per subject identity; each event payload is sealed with AES-256-GCM under its
//! subject's data key, with the tenant, the event id and the key id bound as associated data.
//! Shredding destroys a wrapped key for good: what it sealed becomes noise, and opening it
//! answers [`Opened::Shredded`] instead of failing.

mod aad;
#[cfg(feature = "bench")]
mod bench;
mod cache;
mod cipher;
mod error;
mod keyring;
mod master;
mod material;
mod new_keys;
mod retention;
mod rotation;
mod store;
pub mod watch;

/// The envelope's seal and open under a bare key, for the fuzz targets only.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use crate::cipher::Cipher;
    use crate::{KeyMaterial, KeyringError};

    pub fn seal(key: &KeyMaterial, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyringError> {
        Cipher::new(key).seal(aad, plaintext)
    }

    pub fn open(key: &KeyMaterial, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyringError> {
        Cipher::new(key).open(aad, sealed)
    }
}

pub use cipher::SEALED_OVERHEAD;
pub use error::KeyringError;
pub use keyring::{CacheStats, Keyring, KeyringOptions, Opened, SubjectKey};
pub use master::MasterKey;
pub use material::KeyMaterial;
pub use new_keys::NewKeys;
pub use retention::{MAX_RETENTION_DAYS, Retention, RetentionSweep};
pub use rotation::{MasterKeyRotation, RETIRED, TenantKeyRotation};
pub use watch::{SHREDDED_EVERYWHERE_AFTER, WATCH_EVERY};
