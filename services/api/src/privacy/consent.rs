//! Consent recorded through the API: a preference centre, a call centre or a signed form
//! says what a person agreed to. The change is appended to the tenant's log, sealed under
//! the person's key, and the projector applies it to their profile as it applies the
//! consent tracked events carry; the answer is 202 with the record's log position.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::KeySubject;
use cdp_privacy::{ConsentRecord, OrderSubject};
use cdp_storage::begin_write;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{SubjectInput, keyring_error, privacy_error, subject_identity};
use crate::{ApiError, ApiState};

const MAX_PURPOSES: usize = 32;
const MAX_PURPOSE_LEN: usize = 64;
const MAX_SOURCE_LEN: usize = 100;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewConsent {
    subject: SubjectInput,
    /// Purpose → granted (`true`) or refused or withdrawn (`false`).
    purposes: BTreeMap<String, bool>,
    /// Until when the grants hold (RFC 3339, in the future).
    expires_at: Option<DateTime<Utc>>,
    /// Where the decision was taken, for the history: `preference-centre`, say.
    source: Option<String>,
}

/// Purposes as profiles keep them (lower case), each a plain name.
fn purposes(raw: BTreeMap<String, bool>) -> Result<BTreeMap<String, bool>, ApiError> {
    if raw.is_empty() || raw.len() > MAX_PURPOSES {
        return Err(ApiError::Invalid(format!(
            "purposes must name 1 to {MAX_PURPOSES} purposes"
        )));
    }
    let mut out = BTreeMap::new();
    for (purpose, granted) in raw {
        let name = purpose.trim().to_lowercase();
        let plain = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if name.is_empty() || name.len() > MAX_PURPOSE_LEN || !plain {
            return Err(ApiError::Invalid(format!(
                "purpose {purpose:?} must be 1 to {MAX_PURPOSE_LEN} letters, digits, '_', '-' or '.'"
            )));
        }
        if out.insert(name, granted).is_some() {
            return Err(ApiError::Invalid(format!(
                "purpose {purpose:?} is named twice"
            )));
        }
    }
    Ok(out)
}

pub(super) async fn record(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<NewConsent>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let body = body.into_inner();
    let purposes = purposes(body.purposes)?;
    let now = Utc::now();
    if body.expires_at.is_some_and(|until| until <= now) {
        return Err(ApiError::Invalid("expires_at must be in the future".into()));
    }
    if let Some(source) = &body.source
        && (source.trim().is_empty()
            || source.len() > MAX_SOURCE_LEN
            || source.chars().any(char::is_control))
    {
        return Err(ApiError::Invalid(format!(
            "source must be 1 to {MAX_SOURCE_LEN} printable characters"
        )));
    }
    let identity = subject_identity(&state, tenant, &body.subject).await?;
    // An erased (suppressed) person is not brought back by a consent record.
    let suppression_ref = state
        .keyring
        .suppression_refs(tenant, std::slice::from_ref(&identity))
        .await
        .map_err(keyring_error)?
        .pop()
        .ok_or(ApiError::NotFound("tenant"))?;
    if cdp_privacy::is_suppressed(&state.db, tenant, &suppression_ref)
        .await
        .map_err(privacy_error)?
    {
        return Err(ApiError::Conflict(
            "this identity is suppressed: nothing is recorded about it until an unsuppression request lifts that",
        ));
    }
    let key = state
        .keyring
        .subject_key(tenant, &KeySubject::Identity(identity.clone()))
        .await
        .map_err(keyring_error)?;
    let record = ConsentRecord {
        subject: OrderSubject {
            kind: identity.kind().as_str().to_owned(),
            value: identity.value().to_owned(),
        },
        purposes: purposes.clone(),
        expires_at: body.expires_at,
        source: body.source.clone(),
        recorded_by: principal.actor().id,
    };
    let event = record.sealed_event(&key).map_err(ApiError::internal)?;

    let txn = begin_write(&state.db).await?;
    let appended = cdp_log::append(&txn, tenant, vec![event])
        .await
        .map_err(ApiError::storage)?;
    let seq = appended.first().map(|a| a.seq().0);
    let entry = principal.audit_entry(
        "consent.record",
        None,
        cdp_audit::Outcome::Success,
        // Not the free-text source: the audit chain outlives an erasure, and a label may
        // name the person. It is in the sealed record.
        serde_json::json!({
            "subject_type": identity.kind().as_str(),
            "purposes": purposes,
            "expires_at": body.expires_at,
            "log_seq": seq,
        }),
    );
    cdp_audit::append(&txn, cdp_audit::Chain::Tenant(tenant), entry).await?;
    txn.commit().await?;
    state.wake_projector(tenant);
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "subject_type": identity.kind().as_str(),
        "purposes": purposes,
        "expires_at": body.expires_at,
        "source": body.source,
        "recorded_at": now,
        "log_seq": seq,
    })))
}

/// `GET /v1/consent`: the consent overview. Counts of profiles per purpose and decision,
/// from the profiles that serve reads; no person is named.
pub(super) async fn overview(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let generation = cdp_profile_store::active_generation(&state.db, tenant)
        .await
        .map_err(crate::profiles::store_error)?;
    let purposes = match generation {
        Some(generation) => {
            cdp_profile_store::consent_tallies(&state.db, tenant, generation, Utc::now())
                .await
                .map_err(crate::profiles::store_error)?
        }
        None => Vec::new(),
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "purposes": purposes })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_are_lower_cased_plain_names_named_once() {
        let ok = purposes(BTreeMap::from([
            ("Marketing".into(), true),
            ("ads.email".into(), false),
        ]))
        .unwrap();
        assert_eq!(
            ok,
            BTreeMap::from([("ads.email".into(), false), ("marketing".into(), true)])
        );
        for bad in [
            BTreeMap::new(),
            BTreeMap::from([("".into(), true)]),
            BTreeMap::from([("has space".into(), true)]),
            BTreeMap::from([("x".repeat(65), true)]),
            BTreeMap::from([("Ads".into(), true), ("ads".into(), false)]),
        ] {
            assert!(purposes(bad).is_err());
        }
    }
}
