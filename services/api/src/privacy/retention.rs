//! A tenant's retention period: how long events stay readable after they were received.
//! Setting it changes how new data keys are made (one per person per period); the
//! projector's sweeps destroy the keys of periods past it and rebuild the profiles.

use actix_web::{HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_keyring::{MAX_RETENTION_DAYS, Retention};
use serde::Deserialize;

use super::keyring_error;
use crate::{ApiError, ApiState};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRetention {
    /// Days an event stays readable after it was received; `null` or 0 keeps everything.
    days: Option<u32>,
}

fn view(retention: Option<Retention>) -> serde_json::Value {
    serde_json::json!({
        "days": retention.map(|r| r.days),
        "period_days": retention.map(Retention::period_days),
    })
}

pub(super) async fn show(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let retention = state
        .keyring
        .retention(principal.tenant_id)
        .await
        .map_err(keyring_error)?;
    Ok(HttpResponse::Ok().json(view(retention)))
}

pub(super) async fn set(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<NewRetention>,
) -> Result<HttpResponse, ApiError> {
    let retention = Retention::of_days(body.days.unwrap_or(0)).map_err(|_| {
        ApiError::Invalid(format!(
            "days must be 1 to {MAX_RETENTION_DAYS}, or null to keep everything"
        ))
    })?;
    let tenant = principal.tenant_id;
    state
        .keyring
        .set_retention(tenant, retention)
        .await
        .map_err(keyring_error)?;
    principal
        .record(
            "retention.update",
            None,
            cdp_audit::Outcome::Success,
            view(retention),
        )
        .await;
    Ok(HttpResponse::Ok().json(view(retention)))
}
