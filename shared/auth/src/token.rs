//! Access tokens: short-lived JWTs (HS256, with a `kid`) naming the person, the tenant and
//! the role. Only HS256 is accepted, so `alg: none` and algorithm swaps fail.

use chrono::Utc;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};

use crate::AuthError;
use crate::signing::SigningKeys;

const ISSUER: &str = "cdp";
const AUDIENCE: &str = "cdp-api";
/// Clock skew tolerated between the processes that issue and check tokens.
const LEEWAY_SECONDS: u64 = 30;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user (`usr_…`).
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The session: the refresh-token family this token came from.
    pub sid: String,
    /// The tenant of a member token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    /// The role of a member token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A platform admin's token.
    #[serde(default)]
    pub adm: bool,
    /// The password must be changed before anything else.
    #[serde(default)]
    pub pwc: bool,
}

impl Claims {
    pub(crate) fn new(sub: String, sid: String, ttl_seconds: i64) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub,
            iat: now,
            exp: now + ttl_seconds,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid,
            tid: None,
            role: None,
            adm: false,
            pwc: false,
        }
    }
}

pub(crate) async fn issue(keys: &SigningKeys, claims: &Claims) -> Result<String, AuthError> {
    let key = keys.signing_key().await?;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.kid.clone());
    let encoding = EncodingKey::from_secret(&key.secret)
        .map_err(|_| AuthError::InvalidToken("unusable key"))?;
    encode(&header, claims, &encoding).map_err(|_| AuthError::InvalidToken("could not sign"))
}

pub(crate) async fn verify(keys: &SigningKeys, token: &str) -> Result<Claims, AuthError> {
    let header = decode_header(token).map_err(|_| AuthError::InvalidToken("malformed"))?;
    if header.alg != Algorithm::HS256 {
        return Err(AuthError::InvalidToken("unexpected algorithm"));
    }
    let kid = header.kid.ok_or(AuthError::InvalidToken("no key id"))?;
    let key = keys
        .verifying_key(&kid)
        .await?
        .ok_or(AuthError::InvalidToken("unknown or retired signing key"))?;
    let decoding = DecodingKey::from_secret(&key.secret)
        .map_err(|_| AuthError::InvalidToken("unusable key"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.leeway = LEEWAY_SECONDS;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
    let claims = decode::<Claims>(token, &decoding, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError::InvalidToken(match e.kind() {
                ErrorKind::ExpiredSignature => "expired",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::InvalidAlgorithm => "unexpected algorithm",
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => "not issued for this API",
                _ => "malformed",
            })
        })?
        .claims;
    if claims.iat > Utc::now().timestamp() + LEEWAY_SECONDS as i64 {
        return Err(AuthError::InvalidToken("issued in the future"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use cdp_testkit::TestDb;

    use super::*;

    #[tokio::test]
    async fn future_dated_tokens_are_refused() {
        let t = TestDb::new().await;
        let keys = SigningKeys::new(t.db.clone(), t.keyring(), chrono::TimeDelta::minutes(20));
        let mut claims = Claims::new(
            "usr_00000000000000000000000000000000".into(),
            "s".into(),
            900,
        );
        claims.iat += 3600;
        claims.exp += 3600;
        let token = issue(&keys, &claims).await.unwrap();
        assert!(matches!(
            verify(&keys, &token).await,
            Err(AuthError::InvalidToken("issued in the future"))
        ));
        let fine = issue(
            &keys,
            &Claims::new(
                "usr_00000000000000000000000000000000".into(),
                "s".into(),
                900,
            ),
        )
        .await
        .unwrap();
        assert!(verify(&keys, &fine).await.is_ok());
    }
}
