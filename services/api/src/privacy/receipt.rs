//! Checking an erasure's receipt against the evidence: the audit entry it names (at its
//! position, with its hash, recording the same keys), the audit chain as a whole, and
//! the key store (every key the receipt lists is gone). A compliance officer gets each
//! check with its outcome, so "erased" is shown, not asserted.

use actix_web::{HttpResponse, web};
use cdp_audit::{AuditFilter, Chain};
use cdp_auth::TenantPrincipal;
use cdp_privacy::RequestKind;
use serde::Serialize;

use super::{keyring_error, privacy_error, request_of_kind};
use crate::{ApiError, ApiState};

#[derive(Serialize)]
struct Check {
    check: &'static str,
    ok: bool,
}

pub(super) async fn verify(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let request = request_of_kind(
        &state,
        tenant,
        &id,
        RequestKind::Erasure,
        "only an erasure request has a receipt",
    )
    .await?;
    let Some(receipt) = request.receipt.clone() else {
        return Err(ApiError::NotReady(
            "the erasure has not been carried out yet: there is no receipt to check",
        ));
    };
    let chain = Chain::Tenant(tenant);
    let entry = cdp_audit::list(
        &state.db,
        chain,
        &AuditFilter {
            after: receipt.audit_seq - 1,
            limit: 1,
            ..AuditFilter::default()
        },
    )
    .await?
    .into_iter()
    .next()
    .filter(|e| e.seq == receipt.audit_seq);
    // The erasure that did the work: this request's own, or the one that covered it.
    let erased_by = receipt.covered_by.unwrap_or(request.id).to_string();
    let recorded_keys: Option<Vec<String>> = entry.as_ref().and_then(|e| {
        e.details["keys_shredded"].as_array().map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
    });
    let mut covering_keys = receipt.keys_shredded.clone();
    if let Some(by) = receipt.covered_by {
        covering_keys = cdp_privacy::get(&state.db, tenant, by)
            .await
            .map_err(privacy_error)?
            .and_then(|r| r.receipt)
            .map(|r| r.keys_shredded)
            .unwrap_or_default();
    }
    let listed: Vec<String> = covering_keys.iter().map(ToString::to_string).collect();
    let live = state
        .keyring
        .live_data_keys(tenant, &covering_keys)
        .await
        .map_err(keyring_error)?;
    let chain_report = cdp_audit::verify(&state.db, chain).await?;

    let checks = vec![
        Check {
            check: "the audit entry the receipt names exists at its position",
            ok: entry.is_some(),
        },
        Check {
            check: "that entry has the hash the receipt holds",
            ok: entry.as_ref().is_some_and(|e| e.hash == receipt.audit_hash),
        },
        Check {
            check: "that entry records this erasure (privacy.erasure.erased of this request)",
            ok: entry.as_ref().is_some_and(|e| {
                e.action == "privacy.erasure.erased"
                    && e.target_kind.as_deref() == Some("privacy_request")
                    && e.target_id.as_deref() == Some(erased_by.as_str())
            }),
        },
        Check {
            check: "that entry lists the same destroyed keys as the receipt",
            ok: recorded_keys.as_ref() == Some(&listed),
        },
        Check {
            check: "every destroyed key is gone from the key store",
            ok: live.is_empty(),
        },
        Check {
            check: "the tenant's audit chain is intact",
            ok: chain_report.valid,
        },
    ];
    let verified = checks.iter().all(|c| c.ok);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "request_id": request.id,
        "verified": verified,
        "checks": checks,
        "receipt": receipt,
        "keys_still_live": live,
        "chain": chain_report,
    })))
}
