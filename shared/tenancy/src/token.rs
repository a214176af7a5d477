//! Secret tokens: recognisable prefixes (so secret scanners can find leaked ones), 192 bits
//! of randomness, stored only as a SHA-256 hash. A fast hash is right here: unlike a
//! password, a random token cannot be guessed from a dictionary.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::TenancyError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Ingest-only key of a source.
    WriteKey,
    /// Secret key of the tenant's management API.
    ApiKey,
    /// Renews a signed-in person's access token.
    RefreshToken,
}

impl TokenKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::WriteKey => "cdp_wk_",
            TokenKind::ApiKey => "cdp_sk_",
            TokenKind::RefreshToken => "cdp_rt_",
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            TokenKind::WriteKey => "write_key",
            TokenKind::ApiKey => "api_key",
            TokenKind::RefreshToken => "refresh_token",
        }
    }
}

/// A token shown once to its owner. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    pub fn generate(kind: TokenKind) -> Result<Self, TenancyError> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes).map_err(|_| TenancyError::Randomness)?;
        Ok(Self(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters, enough to tell keys apart in a listing.
    pub(crate) fn display_prefix(&self) -> String {
        self.0.chars().take(12).collect()
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretToken({}…)", self.display_prefix())
    }
}

/// The stored form of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hidden_from_debug() {
        let a = SecretToken::generate(TokenKind::ApiKey).unwrap();
        let b = SecretToken::generate(TokenKind::ApiKey).unwrap();
        assert!(a.expose().starts_with("cdp_sk_"));
        assert_eq!(a.expose().len(), 7 + 32);
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_ne!(hash(a.expose()), hash(b.expose()));
    }
}
