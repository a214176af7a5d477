use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::KeyringError;

/// 32 bytes of secret key material. Zeroed when dropped; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyMaterial([u8; 32]);

impl KeyMaterial {
    pub const LEN: usize = 32;

    /// Fresh random key material from the operating system's generator.
    pub fn generate() -> Result<Self, KeyringError> {
        let mut bytes = [0u8; Self::LEN];
        getrandom::fill(&mut bytes).map_err(|_| KeyringError::Randomness)?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyringError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyringError::BadKeyLength(bytes.len()))?;
        Ok(Self(array))
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial([redacted])")
    }
}
