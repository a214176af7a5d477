//! Credentials: API keys with scopes, and write keys of sources. Secrets are shown once
//! and stored as hashes; a revoked key is refused from the next request on.

use actix_web::{HttpResponse, web};
use cdp_audit::Outcome;
use cdp_auth::TenantPrincipal;
use cdp_domain::{CredentialId, Permission, SourceId};
use cdp_http::Routes;
use serde::Deserialize;

use crate::{ApiError, ApiState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Keys");
    r.get("/v1/keys", list)
        .summary("List the API keys")
        .query::<ListQuery>()
        .ok();
    r.post("/v1/keys", create)
        .summary("Create an API key (shown once)")
        .body::<NewKey>()
        .created();
    r.delete("/v1/keys/{credential_id}", revoke)
        .summary("Revoke a key")
        .no_content();
    r.post("/v1/sources/{source_id}/keys", create_write_key)
        .summary("Create another write key for a source")
        .body::<NewWriteKey>()
        .created();
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ListQuery {
    /// Only keys whose shown prefix starts with this (for example `cdp_sk_AbC`).
    prefix: Option<String>,
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let keys: Vec<_> = cdp_tenancy::list_credentials(&state.db, principal.tenant_id)
        .await?
        .into_iter()
        .filter(|k| {
            query
                .prefix
                .as_deref()
                .is_none_or(|p| k.prefix.starts_with(p) || p.starts_with(&k.prefix))
        })
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "keys": keys })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
    /// Permission names; a key can hold no more than its creator.
    scopes: Vec<String>,
}

async fn create(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<NewKey>,
) -> Result<HttpResponse, ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::Invalid("name must be 1 to 100 characters".into()));
    }
    if body.scopes.is_empty() {
        return Err(ApiError::Invalid("a key needs at least one scope".into()));
    }
    let mut scopes = Vec::new();
    for scope in &body.scopes {
        let permission: Permission = scope
            .parse()
            .map_err(|_| ApiError::Invalid(format!("unknown scope {scope:?}")))?;
        if !principal.holds(permission) {
            return Err(ApiError::Forbidden(
                "a key cannot hold a scope its creator lacks",
            ));
        }
        if !scopes.contains(&permission) {
            scopes.push(permission);
        }
    }
    let (id, secret) =
        cdp_tenancy::create_api_key(&state.db, principal.tenant_id, name, &scopes).await?;
    let scope_names: Vec<&str> = scopes.iter().map(|p| p.as_str()).collect();
    principal
        .record(
            "key.create",
            Some(("credential", id.to_string())),
            Outcome::Success,
            serde_json::json!({"scopes": scope_names}),
        )
        .await;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": id,
        "name": name,
        "scopes": scope_names,
        "key": secret.expose(),
    })))
}

async fn revoke(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: CredentialId = id.parse().map_err(|_| ApiError::NotFound("key"))?;
    cdp_tenancy::find_credential(&state.db, principal.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("key"))?;
    let revoked = cdp_tenancy::revoke_credential(&state.db, principal.tenant_id, id).await?;
    principal
        .record(
            "key.revoke",
            Some(("credential", id.to_string())),
            Outcome::Success,
            serde_json::json!({"already_revoked": !revoked}),
        )
        .await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWriteKey {
    name: Option<String>,
}

async fn create_write_key(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    source: web::Path<String>,
    body: Option<web::Json<NewWriteKey>>,
) -> Result<HttpResponse, ApiError> {
    let source: SourceId = source.parse().map_err(|_| ApiError::NotFound("source"))?;
    let found = cdp_tenancy::find_source(&state.db, principal.tenant_id, source)
        .await?
        .ok_or(ApiError::NotFound("source"))?;
    let name = body
        .and_then(|b| b.into_inner().name)
        .unwrap_or_else(|| format!("{} write key", found.name));
    let (id, secret) =
        cdp_tenancy::create_write_key(&state.db, principal.tenant_id, source, &name).await?;
    principal
        .record(
            "source.key.create",
            Some(("credential", id.to_string())),
            Outcome::Success,
            serde_json::json!({"source_id": source}),
        )
        .await;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "id": id,
        "source_id": source,
        "name": name,
        "write_key": secret.expose(),
    })))
}
