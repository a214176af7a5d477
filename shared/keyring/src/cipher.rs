//! AES-256-GCM with random nonces, in a versioned envelope: `version || nonce || ciphertext+tag`.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};

use crate::{KeyMaterial, KeyringError};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Bytes a sealed payload carries beyond its plaintext.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

/// An AEAD key. It keeps the 32 key bytes (zeroed when dropped) and expands the key
/// schedule for each use: that costs well under a microsecond, and an expanded schedule
/// is 624 bytes, which for the 100,000 data keys the cache keeps by default would be
/// 60 MB instead of 3.
pub(crate) struct Cipher(KeyMaterial);

impl Cipher {
    pub(crate) fn new(key: &KeyMaterial) -> Self {
        Self(key.clone())
    }

    /// The key schedule, zeroed when dropped.
    fn aead(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose().into())
    }

    pub(crate) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyringError> {
        // From the thread's CSPRNG (ChaCha, seeded and reseeded from the operating
        // system) rather than a system call per seal: a batch of events seals hundreds.
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let ciphertext = self
            .aead()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Encryption fails only for inputs beyond GCM's 64 GiB limit.
            .map_err(|_| KeyringError::Tampered)?;
        let mut sealed = Vec::with_capacity(SEALED_OVERHEAD + plaintext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    pub(crate) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyringError> {
        let (&version, rest) = sealed.split_first().ok_or(KeyringError::Truncated)?;
        if version != VERSION {
            return Err(KeyringError::UnknownFormat(version));
        }
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(KeyringError::Truncated);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| KeyringError::Truncated)?;
        self.aead()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| KeyringError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cipher() -> Cipher {
        Cipher::new(&KeyMaterial::generate().unwrap())
    }

    proptest! {
        #[test]
        fn open_reverses_seal(plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
                              aad in proptest::collection::vec(any::<u8>(), 0..64)) {
            let c = cipher();
            let sealed = c.seal(&aad, &plaintext).unwrap();
            prop_assert_eq!(sealed.len(), plaintext.len() + SEALED_OVERHEAD);
            prop_assert_eq!(c.open(&aad, &sealed).unwrap(), plaintext);
        }

        #[test]
        fn any_flipped_bit_fails_to_open(plaintext in proptest::collection::vec(any::<u8>(), 0..256),
                                         position in any::<prop::sample::Index>(),
                                         bit in 0u8..8) {
            let c = cipher();
            let mut sealed = c.seal(b"aad", &plaintext).unwrap();
            let i = position.index(sealed.len());
            sealed[i] ^= 1 << bit;
            prop_assert!(c.open(b"aad", &sealed).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(garbage in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = cipher().open(b"aad", &garbage);
        }
    }

    #[test]
    fn other_associated_data_or_key_fails() {
        let c = cipher();
        let sealed = c.seal(b"tenant-a", b"hello").unwrap();
        assert!(matches!(
            c.open(b"tenant-b", &sealed),
            Err(KeyringError::Tampered)
        ));
        assert!(matches!(
            cipher().open(b"tenant-a", &sealed),
            Err(KeyringError::Tampered)
        ));
    }

    #[test]
    fn nonces_differ_between_seals() {
        let c = cipher();
        let a = c.seal(b"", b"same").unwrap();
        let b = c.seal(b"", b"same").unwrap();
        assert_ne!(a, b);
    }
}
