//! The master key: kept outside the database (environment, file, or later a KMS), it wraps
//! every tenant key.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::cipher::Cipher;
use crate::{KeyMaterial, KeyringError};

pub struct MasterKey {
    id: String,
    material: KeyMaterial,
    cipher: Cipher,
}

impl MasterKey {
    pub fn from_material(material: KeyMaterial) -> Self {
        // A public fingerprint: records which master key wrapped a tenant key, so a wrong
        // master key is named as such instead of surfacing as a failed decryption.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(material.expose())
            .expect("HMAC accepts keys of any length");
        mac.update(b"cdp.master-key-id.v1");
        let id = hex::encode(&mac.finalize().into_bytes()[..8]);
        let cipher = Cipher::new(&material);
        Self {
            id,
            material,
            cipher,
        }
    }

    pub fn generate() -> Result<Self, KeyringError> {
        Ok(Self::from_material(KeyMaterial::generate()?))
    }

    /// Parses the standard base64 encoding of 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, KeyringError> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyringError::BadMasterKeyEncoding)?,
        );
        let material =
            KeyMaterial::from_slice(&bytes).map_err(|_| KeyringError::BadMasterKeyEncoding)?;
        Ok(Self::from_material(material))
    }

    pub fn from_file(path: &Path) -> Result<Self, KeyringError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            KeyringError::MasterKeyFile {
                path: path.display().to_string(),
                source,
            }
        })?);
        Self::from_base64(&text)
    }

    /// Reads the key file, or creates it with a new key (owner-only permissions) when it
    /// does not exist yet. Returns whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyringError> {
        let file_error = |source| KeyringError::MasterKeyFile {
            path: path.display().to_string(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(path) {
            Ok(mut file) => {
                let key = Self::generate()?;
                let encoded = key.to_base64();
                file.write_all(encoded.as_bytes()).map_err(file_error)?;
                file.write_all(b"\n").map_err(file_error)?;
                file.sync_all().map_err(file_error)?;
                Ok((key, true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::from_file(path)?, false))
            }
            Err(e) => Err(file_error(e)),
        }
    }

    /// The public fingerprint of this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key in the form `from_base64` reads; for writing a key file, never for logs.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.material.expose()))
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.cipher
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_keeps_the_id() {
        let key = MasterKey::generate().unwrap();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.id(), again.id());
        assert_eq!(key.id().len(), 16);
    }

    #[test]
    fn bad_encodings_are_refused() {
        for bad in ["", "not base64!", "AAAA", &STANDARD.encode([0u8; 31])] {
            assert!(matches!(
                MasterKey::from_base64(bad),
                Err(KeyringError::BadMasterKeyEncoding)
            ));
        }
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (first, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        let (second, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
        }
    }

    #[test]
    fn debug_shows_only_the_fingerprint() {
        let key = MasterKey::generate().unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains(key.id()));
        assert!(!shown.contains(key.to_base64().as_str()));
    }
}
