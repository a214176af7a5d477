//! Identity rules and the state of the projection: a tenant reads and changes its rules
//! (a change rebuilds its profiles) and sees how far behind its log they are; platform
//! admins see every tenant's projection and rebuild or resume one.

use actix_web::{HttpResponse, web};
use cdp_audit::{Chain, Outcome};
use cdp_auth::{PlatformPrincipal, TenantPrincipal};
use cdp_domain::TenantId;
use cdp_http::{Content, Routes};
use cdp_profile_store::{self as store, GenerationState, Status};
use cdp_profiles::IdentityRules;
use serde::Serialize;

use crate::profiles::store_error;
use crate::{ApiError, ApiState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Projection");
    r.get("/v1/identity-rules", rules)
        .summary("Show the identity-resolution rules")
        .ok();
    r.put("/v1/identity-rules", set_rules)
        .summary("Replace the identity rules (profiles are rebuilt under them)")
        .any_body()
        .answers(202, Content::object());
    r.get("/v1/projection", status)
        .summary("Show how far the profiles are behind the log")
        .ok();
    r.get("/v1/admin/projections", all_statuses)
        .summary("Every tenant's projection status")
        .ok();
    r.post(
        "/v1/admin/tenants/{tenant_id}/projection/rebuild",
        admin_rebuild,
    )
    .summary("Rebuild a tenant's profiles from its log")
    .answers(202, Content::object());
    r.post(
        "/v1/admin/tenants/{tenant_id}/projection/resume",
        admin_resume,
    )
    .summary("Resume a projection stopped at a failing event")
    .answers(202, Content::object());
}

/// Where a tenant's projection stands.
#[derive(Serialize)]
pub(crate) struct ProjectionStatus {
    tenant_id: TenantId,
    /// The last event in the log.
    log_head: i64,
    /// Events appended but not yet in the profiles that serve reads.
    lag: i64,
    /// Stopped at an event it cannot apply (see `generations[].failure`).
    stopped: bool,
    rebuilding: bool,
    generations: Vec<GenerationState>,
}

async fn projection_status(
    state: &ApiState,
    tenant: TenantId,
) -> Result<ProjectionStatus, ApiError> {
    let log_head = cdp_log::head(&state.db, tenant)
        .await
        .map_err(ApiError::storage)?
        .0;
    let generations = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let active = generations.iter().find(|g| g.status == Status::Active);
    Ok(ProjectionStatus {
        tenant_id: tenant,
        log_head,
        lag: log_head - active.map_or(0, |g| g.last_seq),
        stopped: generations.iter().any(|g| g.failure.is_some()),
        rebuilding: generations.iter().any(|g| g.status == Status::Building),
        generations,
    })
}

async fn status(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(projection_status(&state, principal.tenant_id).await?))
}

async fn rules(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = principal.tenant_id;
    let saved = store::identity_rules(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let generations = store::generations(&state.db, tenant)
        .await
        .map_err(store_error)?;
    let in_effect = generations
        .iter()
        .find(|g| g.status == Status::Active)
        .map_or_else(|| saved.clone(), |g| g.rules.clone());
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "rules": saved,
        // What the profiles being served were resolved under; differs from `rules`
        // until the rebuild a change started has taken over.
        "in_effect": in_effect,
        "rebuilding": generations.iter().any(|g| g.status == Status::Building),
    })))
}

/// Saves new rules and rebuilds the profiles under them; the old profiles serve reads
/// until the rebuilt ones catch up.
async fn set_rules(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let rules: IdentityRules = IdentityRules::from_json(&body.to_string())
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let tenant = principal.tenant_id;
    let txn = cdp_storage::begin_write(&state.db).await?;
    store::set_identity_rules(&txn, tenant, &rules)
        .await
        .map_err(store_error)?;
    let generation = store::start_rebuild(&txn, tenant)
        .await
        .map_err(store_error)?;
    txn.commit().await?;
    principal
        .record(
            "identity_rules.update",
            None,
            Outcome::Success,
            serde_json::json!({"rebuild_generation": generation}),
        )
        .await;
    state.wake_projector(tenant);
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "rules": rules,
        "rebuild": {"generation": generation},
    })))
}

async fn all_statuses(
    _admin: PlatformPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let mut statuses = Vec::new();
    for tenant in cdp_tenancy::list_tenants(&state.db).await? {
        if tenant.deleted_at.is_none() {
            statuses.push(projection_status(&state, tenant.id).await?);
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "projections": statuses })))
}

async fn live_tenant(state: &ApiState, id: &str) -> Result<TenantId, ApiError> {
    let id: TenantId = id.parse().map_err(|_| ApiError::NotFound("tenant"))?;
    match cdp_tenancy::find_tenant(&state.db, id).await? {
        Some(tenant) if tenant.deleted_at.is_none() => Ok(id),
        _ => Err(ApiError::NotFound("tenant")),
    }
}

async fn record(
    state: &ApiState,
    admin: &PlatformPrincipal,
    action: &str,
    tenant: TenantId,
) -> Result<(), ApiError> {
    let entry = admin.audit_entry(
        action,
        Some(("tenant", tenant.to_string())),
        Outcome::Success,
        serde_json::json!({}),
    );
    cdp_audit::append_now(&state.db, Chain::Platform, entry).await?;
    Ok(())
}

async fn admin_rebuild(
    admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = live_tenant(&state, &id).await?;
    let generation = store::start_rebuild(&state.db, tenant)
        .await
        .map_err(store_error)?;
    record(&state, &admin, "projection.rebuild", tenant).await?;
    state.wake_projector(tenant);
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "tenant_id": tenant,
        "rebuild": {"generation": generation},
    })))
}

/// Retries a stopped projection now rather than after its back-off.
async fn admin_resume(
    admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant = live_tenant(&state, &id).await?;
    store::clear_failure(&state.db, tenant)
        .await
        .map_err(store_error)?;
    record(&state, &admin, "projection.resume", tenant).await?;
    state.wake_projector(tenant);
    Ok(HttpResponse::Accepted().json(projection_status(&state, tenant).await?))
}
