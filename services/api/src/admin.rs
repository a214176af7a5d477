//! Platform administration: workspaces, their quotas, token signing keys, and the
//! platform's audit log. Only platform admins reach these endpoints.

use actix_web::{HttpResponse, web};
use cdp_audit::{Chain, Outcome};
use cdp_auth::{Authenticator, PlatformPrincipal};
use cdp_domain::{Email, Role, TenantId, TenantName};
use cdp_http::Routes;
use cdp_tenancy::{Quotas, TenantStatus};
use serde::Deserialize;

use crate::audit::{AuditQuery, page};
use crate::{ApiError, ApiState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Platform");
    r.get("/v1/admin/tenants", list)
        .summary("List the workspaces")
        .ok();
    r.post("/v1/admin/tenants", create)
        .summary("Create a workspace")
        .body::<NewTenant>()
        .created();
    r.get("/v1/admin/tenants/{tenant_id}", show)
        .summary("Show a workspace")
        .ok();
    r.patch("/v1/admin/tenants/{tenant_id}", update)
        .summary("Rename, suspend or resume a workspace")
        .body::<TenantUpdate>()
        .ok();
    r.delete("/v1/admin/tenants/{tenant_id}", delete)
        .summary("Delete a workspace and shred its keys")
        .body::<Deletion>()
        .ok();
    r.put("/v1/admin/tenants/{tenant_id}/quotas", set_quotas)
        .summary("Set a workspace's quotas")
        .body::<Quotas>()
        .ok();
    r.get("/v1/admin/audit", audit)
        .summary("The platform's audit log")
        .query::<AuditQuery>()
        .ok();
    r.get("/v1/admin/audit/verify", verify)
        .summary("Verify the platform audit chain")
        .ok();
    r.post("/v1/admin/signing-keys", rotate_signing_key)
        .summary("Start signing tokens with a new key")
        .created();
}

async fn record(
    state: &ApiState,
    admin: &PlatformPrincipal,
    action: &str,
    tenant: Option<TenantId>,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let entry = admin.audit_entry(
        action,
        tenant.map(|t| ("tenant", t.to_string())),
        Outcome::Success,
        details,
    );
    cdp_audit::append_now(&state.db, Chain::Platform, entry).await?;
    Ok(())
}

fn tenant_id(text: &str) -> Result<TenantId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound("tenant"))
}

async fn list(
    _admin: PlatformPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let tenants = cdp_tenancy::list_tenants(&state.db).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "tenants": tenants })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    /// Who owns it; a new user gets a one-time password, shown once.
    owner_email: Option<String>,
}

async fn create(
    admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<NewTenant>,
) -> Result<HttpResponse, ApiError> {
    let name = TenantName::parse(&body.name).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let owner = body
        .owner_email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let created = cdp_tenancy::create_tenant(&state.db, &state.keyring, name)
        .await
        .map_err(ApiError::storage)?;
    let mut shown = created.to_json();
    if let Some(email) = owner {
        let invited =
            cdp_auth::invite_member(&state.db, created.tenant_id, &email, Role::Owner).await?;
        shown["owner"] = serde_json::json!({
            "user_id": invited.user_id,
            "email": email.as_str(),
            "one_time_password": invited.one_time_password,
        });
    }
    record(
        &state,
        &admin,
        "tenant.create",
        Some(created.tenant_id),
        serde_json::json!({}),
    )
    .await?;
    Ok(HttpResponse::Created().json(shown))
}

async fn show(
    _admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = tenant_id(&id)?;
    let tenant = cdp_tenancy::find_tenant(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let quotas = cdp_tenancy::quotas(&state.db, id).await?;
    let stored = cdp_log::stored_bytes(&state.db, id)
        .await
        .map_err(ApiError::storage)?;
    // Once deleted: how far the removal of its projected data has come.
    let purge = match tenant.status {
        TenantStatus::Deleted => Some(
            cdp_profile_store::purge_status(&state.db, id)
                .await
                .map_err(crate::profiles::store_error)?,
        ),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "tenant": tenant,
        "purge": purge,
        "quotas": quotas,
        "usage": {"stored_bytes": stored},
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TenantUpdate {
    name: Option<String>,
    /// `active` or `suspended`.
    status: Option<String>,
}

async fn update(
    admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<TenantUpdate>,
) -> Result<HttpResponse, ApiError> {
    let id = tenant_id(&id)?;
    let tenant = cdp_tenancy::find_tenant(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    if tenant.status == TenantStatus::Deleted {
        return Err(ApiError::Conflict("a deleted workspace cannot be changed"));
    }
    if let Some(name) = &body.name {
        let name = TenantName::parse(name).map_err(|e| ApiError::Invalid(e.to_string()))?;
        cdp_tenancy::rename_tenant(&state.db, id, &name).await?;
        record(
            &state,
            &admin,
            "tenant.rename",
            Some(id),
            serde_json::json!({}),
        )
        .await?;
    }
    if let Some(status) = &body.status {
        let (status, action) = match status.as_str() {
            "active" => (TenantStatus::Active, "tenant.resume"),
            "suspended" => (TenantStatus::Suspended, "tenant.suspend"),
            _ => {
                return Err(ApiError::Invalid(
                    "status is active or suspended; delete a workspace with DELETE".into(),
                ));
            }
        };
        cdp_tenancy::set_tenant_status(&state.db, id, status).await?;
        record(&state, &admin, action, Some(id), serde_json::json!({})).await?;
    }
    let tenant = cdp_tenancy::find_tenant(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    Ok(HttpResponse::Ok().json(tenant))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Deletion {
    /// The tenant's id again, to confirm: deletion destroys its keys for good.
    confirm: String,
}

async fn delete(
    admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: Option<web::Json<Deletion>>,
) -> Result<HttpResponse, ApiError> {
    let id = tenant_id(&id)?;
    cdp_tenancy::find_tenant(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let confirmed = body.is_some_and(|b| b.confirm == id.to_string());
    if !confirmed {
        return Err(ApiError::Invalid(
            "deleting a workspace destroys its keys and cannot be undone: send {\"confirm\": \"<tenant id>\"}".into(),
        ));
    }
    // The keys first: once they are gone the data is unreadable, whatever happens next;
    // deleting again finishes whatever did not complete.
    state
        .keyring
        .shred_tenant(id)
        .await
        .map_err(ApiError::internal)?;
    let txn = cdp_storage::begin_write(&state.db).await?;
    cdp_tenancy::mark_tenant_deleted(&txn, id).await?;
    // Profiles are projections kept in clear: they stop being readable now and are
    // removed in the background (`GET` shows how far that has come).
    cdp_profile_store::forget_tenant(&txn, id)
        .await
        .map_err(crate::profiles::store_error)?;
    // Nothing more is delivered for a deleted workspace.
    cdp_destinations::store::forget_tenant(&txn, id)
        .await
        .map_err(ApiError::storage)?;
    cdp_audit::append(
        &txn,
        Chain::Platform,
        admin.audit_entry(
            "tenant.delete",
            Some(("tenant", id.to_string())),
            Outcome::Success,
            serde_json::json!({"keys_shredded": true}),
        ),
    )
    .await?;
    txn.commit().await?;
    cdp_tenancy::credentials_changed();
    if let Some(projector) = &state.projector {
        projector.forget_tenant(id);
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "tenant_id": id,
        "status": "deleted",
        "keys_shredded": true,
        "purge": {"status": "in_progress"},
    })))
}

async fn set_quotas(
    admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
    body: web::Json<Quotas>,
) -> Result<HttpResponse, ApiError> {
    let id = tenant_id(&id)?;
    cdp_tenancy::find_tenant(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let quotas = body.into_inner();
    cdp_tenancy::set_quotas(&state.db, id, quotas).await?;
    record(
        &state,
        &admin,
        "tenant.quotas",
        Some(id),
        serde_json::to_value(quotas).unwrap_or_default(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(cdp_tenancy::quotas(&state.db, id).await?))
}

async fn audit(
    _admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    page(&state, Chain::Platform, &query).await
}

async fn verify(
    _admin: PlatformPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(cdp_audit::verify(&state.db, Chain::Platform).await?))
}

async fn rotate_signing_key(
    admin: PlatformPrincipal,
    state: web::Data<ApiState>,
    authenticator: web::Data<Authenticator>,
) -> Result<HttpResponse, ApiError> {
    let kid = authenticator.rotate_signing_key().await?;
    record(
        &state,
        &admin,
        "signing_key.rotate",
        None,
        serde_json::json!({"kid": kid}),
    )
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "kid": kid })))
}
