//! Write keys: from the `Authorization` header (Basic user name or Bearer token), or the
//! `writeKey` field of the body. The tenant always comes from the key.

use actix_web::HttpRequest;
use cdp_http::{Presented, presented_credential};
use cdp_tenancy::{KeyCheck, WriteKeyGrant};

use crate::{IngestError, IngestState};

pub(crate) async fn authenticate(
    state: &IngestState,
    request: &HttpRequest,
    body_key: Option<&str>,
) -> Result<WriteKeyGrant, IngestError> {
    let secret = match presented_credential(request) {
        Some(Presented::Basic(secret) | Presented::Bearer(secret)) => secret,
        Some(Presented::Malformed) => {
            return Err(IngestError::Unauthorized(
                "malformed Authorization header: send the write key as the Basic user name or as a Bearer token",
            ));
        }
        None => match body_key {
            Some(key) => key.to_owned(),
            None => {
                return Err(IngestError::Unauthorized(
                    "a write key is required: send it as the Basic user name, as a Bearer token, or as writeKey in the body",
                ));
            }
        },
    };
    match state
        .write_keys
        .authenticate(&state.db, &secret)
        .await
        .map_err(IngestError::unavailable)?
    {
        KeyCheck::Valid(grant) => {
            cdp_http::record_tenant(&grant.tenant_id);
            Ok(grant)
        }
        KeyCheck::Suspended => Err(IngestError::Forbidden("this workspace is suspended")),
        KeyCheck::Invalid => Err(IngestError::Unauthorized("unknown or revoked write key")),
    }
}
