//! Signing webhook deliveries as the Standard Webhooks specification says: HMAC-SHA256
//! over `{webhook-id}.{webhook-timestamp}.{body}` with the destination's secret, sent as
//! `webhook-signature: v1,<base64>`. Several signatures may be sent at once, space
//! separated: while a secret is being rotated each delivery is signed with the new one
//! and the previous one, so a receiver that has not switched yet still accepts it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::DestinationError;

/// How a secret is written out, as the specification's libraries expect it.
pub const SECRET_PREFIX: &str = "whsec_";

/// How far a delivery's timestamp may be from the receiver's clock (the specification's
/// suggestion), against replays.
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 5 * 60;

/// Bytes of a secret we make; the specification allows 24 to 64.
const GENERATED_BYTES: usize = 32;
const MIN_BYTES: usize = 24;
const MAX_BYTES: usize = 64;

/// The version tag of the symmetric signature scheme.
const V1: &str = "v1";

/// A destination's signing secret. Its bytes are wiped when dropped and never printed.
#[derive(Clone)]
pub struct SigningSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> SigningSecret {
        let mut bytes = Zeroizing::new(vec![0u8; GENERATED_BYTES]);
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        SigningSecret(bytes)
    }

    /// A secret as written out (`whsec_` and base64; the prefix may be left out).
    pub fn parse(text: &str) -> Result<SigningSecret, DestinationError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let bytes = Zeroizing::new(
            STANDARD
                .decode(encoded)
                .map_err(|_| DestinationError::InvalidSecret("not base64"))?,
        );
        if !(MIN_BYTES..=MAX_BYTES).contains(&bytes.len()) {
            return Err(DestinationError::InvalidSecret(
                "must be 24 to 64 bytes long",
            ));
        }
        Ok(SigningSecret(bytes))
    }

    /// The secret written out, to show the tenant once and to store sealed.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(&*self.0)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// One signature, `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(id, timestamp, body).finalize().into_bytes();
        format!("{V1},{}", STANDARD.encode(tag))
    }
}

/// The three headers of a signed delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `webhook-id`: the same for every attempt of one delivery, so receivers can drop
    /// repeats.
    pub id: String,
    /// `webhook-timestamp`: seconds since the Unix epoch, of this attempt.
    pub timestamp: i64,
    /// `webhook-signature`: one signature per secret, space separated.
    pub signature: String,
}

/// Signs a delivery with every secret given (the current one first, then one being
/// rotated out).
pub fn sign(secrets: &[SigningSecret], id: &str, timestamp: i64, body: &[u8]) -> SignedHeaders {
    let signature = secrets
        .iter()
        .map(|s| s.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ");
    SignedHeaders {
        id: id.to_owned(),
        timestamp,
        signature,
    }
}

/// Checks a delivery the way a receiver does: the timestamp within `tolerance` seconds of
/// `now`, and one of the `v1` signatures in the header made with `secret` over exactly
/// these bytes (compared in constant time). Signatures of other versions are ignored.
pub fn verify(
    secret: &SigningSecret,
    headers: &SignedHeaders,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), DestinationError> {
    if (now - headers.timestamp).abs() > tolerance {
        return Err(DestinationError::OutsideTolerance);
    }
    let expected = secret.mac(&headers.id, headers.timestamp, body);
    let mut any = false;
    for entry in headers.signature.split(' ').filter(|e| !e.is_empty()) {
        let (version, encoded) = entry
            .split_once(',')
            .ok_or(DestinationError::MalformedSignature)?;
        any = true;
        if version != V1 {
            continue;
        }
        let Ok(tag) = STANDARD.decode(encoded) else {
            continue;
        };
        if expected.clone().verify_slice(&tag).is_ok() {
            return Ok(());
        }
    }
    if any {
        Err(DestinationError::NoMatchingSignature)
    } else {
        Err(DestinationError::MalformedSignature)
    }
}
