//! Previews: how many profiles a condition not saved yet matches, and a sample.

use std::collections::BTreeSet;

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_profile_store as store;
use cdp_segments::to_text;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MAX_PAGE, catalog, definitions, read_condition};
use crate::profiles::store_error;
use crate::{ApiError, ApiState};

/// Profiles a preview evaluates at most; past it the size is estimated from them.
const PREVIEW_SCAN: u64 = 200_000;
const PREVIEW_SAMPLE: usize = 20;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PreviewBody {
    condition: Option<Value>,
    text: Option<String>,
    /// `false`: only read the condition and answer it in both forms, counting no one
    /// (what an editor switching between the forms needs, whatever the data).
    evaluate: Option<bool>,
}

/// How many profiles match a condition not saved yet, and a sample of them.
pub(super) async fn preview(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<PreviewBody>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let definitions = definitions(&state, tenant).await?;
    let condition = read_condition(
        body.condition.as_ref(),
        body.text.as_deref(),
        &catalog(&definitions),
        None,
    )?;
    let forms = json!({"text": to_text(&condition), "condition": condition.to_json()});
    if body.evaluate == Some(false) {
        return Ok(HttpResponse::Ok().json(forms));
    }
    let generations = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let Some(active) = generations
        .into_iter()
        .find(|g| g.status == store::Status::Active)
    else {
        return Ok(HttpResponse::Ok().json(json!({
            "size": 0, "scanned": 0, "total": 0, "estimated": false, "sample": [],
            "text": forms["text"], "condition": forms["condition"],
        })));
    };
    let audiences = definitions.audiences_for(&active);
    let g = active.generation;
    let now = Utc::now();
    let (mut scanned, mut size, mut sample) = (0u64, 0u64, Vec::new());
    let mut cursor = None;
    while scanned < PREVIEW_SCAN {
        let page = store::profile_page(&state.db, tenant, g, cursor, MAX_PAGE)
            .await
            .map_err(store_error)?;
        let Some(last) = page.last().copied() else {
            break;
        };
        cursor = Some(last);
        let profiles = store::profiles_by_id(&state.db, tenant, g, &page)
            .await
            .map_err(store_error)?;
        let members = store::memberships(&state.db, tenant, g, store::Selection::Ids(&page))
            .await
            .map_err(store_error)?;
        for p in &profiles {
            let of: BTreeSet<String> = members
                .get(&p.id)
                .map(|m| m.keys().map(|s| s.to_string()).collect())
                .unwrap_or_default();
            let Some(holds) = audiences.check(&condition, p, now, &of) else {
                return Err(ApiError::NotReady(
                    "this condition needs event history that is not computed yet: save it as a segment and its membership is computed from the whole log",
                ));
            };
            if holds {
                size += 1;
                if sample.len() < PREVIEW_SAMPLE {
                    sample.push(p.id);
                }
            }
        }
        scanned += page.len() as u64;
        if (page.len() as u64) < MAX_PAGE {
            break;
        }
    }
    let total = store::live_profiles(&state.db, tenant, g)
        .await
        .map_err(store_error)? as u64;
    let estimated = scanned < total;
    let size = if estimated && scanned > 0 {
        (size as f64 * total as f64 / scanned as f64).round() as u64
    } else {
        size
    };
    Ok(HttpResponse::Ok().json(json!({
        "size": size,
        "scanned": scanned,
        "total": total,
        "estimated": estimated,
        "sample": sample,
        "text": forms["text"],
        "condition": forms["condition"],
    })))
}
