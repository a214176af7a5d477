//! The audit log, read and verified; the tenant's here, the platform's under `/v1/admin`.

use actix_web::{HttpResponse, web};
use cdp_audit::{AuditFilter, Chain, Outcome};
use cdp_auth::TenantPrincipal;
use cdp_http::Routes;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{ApiError, ApiState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Audit");
    r.get("/v1/audit", list)
        .summary("The workspace's audit log")
        .query::<AuditQuery>()
        .ok();
    r.get("/v1/audit/verify", verify)
        .summary("Verify the audit log's hash chain")
        .ok();
}

#[derive(Deserialize, utoipa::IntoParams)]
pub(crate) struct AuditQuery {
    #[serde(default)]
    after: i64,
    #[serde(default = "default_limit")]
    limit: u64,
    /// Actions starting with this (`member.` for all member actions).
    action: Option<String>,
    actor: Option<String>,
    outcome: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

fn default_limit() -> u64 {
    100
}

impl AuditQuery {
    pub(crate) fn filter(&self) -> Result<AuditFilter, ApiError> {
        if self.limit == 0 || self.limit > 1000 {
            return Err(ApiError::Invalid("limit must be between 1 and 1000".into()));
        }
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some("success") => Some(Outcome::Success),
            Some("denied") => Some(Outcome::Denied),
            Some("failure") => Some(Outcome::Failure),
            Some(_) => {
                return Err(ApiError::Invalid(
                    "outcome is success, denied or failure".into(),
                ));
            }
        };
        Ok(AuditFilter {
            after: self.after,
            limit: self.limit,
            action_prefix: self.action.clone(),
            actor_id: self.actor.clone(),
            outcome,
            since: self.since,
            until: self.until,
        })
    }
}

pub(crate) async fn page(
    state: &ApiState,
    chain: Chain,
    query: &AuditQuery,
) -> Result<HttpResponse, ApiError> {
    let entries = cdp_audit::list(&state.db, chain, &query.filter()?).await?;
    let next_after = entries.last().map_or(query.after, |e| e.seq);
    Ok(
        HttpResponse::Ok()
            .json(serde_json::json!({ "entries": entries, "next_after": next_after })),
    )
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    page(&state, Chain::Tenant(principal.tenant_id), &query).await
}

async fn verify(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let report = cdp_audit::verify(&state.db, Chain::Tenant(principal.tenant_id)).await?;
    Ok(HttpResponse::Ok().json(report))
}
