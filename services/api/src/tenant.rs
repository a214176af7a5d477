//! `GET /v1/tenant`: the caller's tenant, and what the caller may do there.

use actix_web::{HttpResponse, web};
use cdp_auth::{Caller, TenantPrincipal};
use cdp_domain::Permission;
use cdp_http::Routes;

use crate::{ApiError, ApiState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Workspace");
    r.get("/v1/tenant", show).summary("Show the workspace").ok();
}

async fn show(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let tenant = cdp_tenancy::find_tenant(&state.db, principal.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let quotas = cdp_tenancy::quotas(&state.db, principal.tenant_id).await?;
    let caller = match &principal.caller {
        Caller::Member { user, role } => {
            serde_json::json!({"kind": "member", "user_id": user, "role": role.as_str()})
        }
        Caller::ApiKey { credential, scopes } => {
            serde_json::json!({"kind": "api_key", "credential_id": credential, "scopes": scopes})
        }
    };
    let permissions: Vec<&str> = Permission::ALL
        .into_iter()
        .filter(|p| principal.holds(*p))
        .map(Permission::as_str)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "tenant_id": tenant.id,
        "name": tenant.name,
        "status": tenant.status,
        "created_at": tenant.created_at,
        "quotas": quotas,
        "caller": caller,
        "permissions": permissions,
    })))
}
