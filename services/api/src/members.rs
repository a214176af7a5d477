//! Members and their roles. Admins manage everyone but owners; only owners touch owners;
//! the last owner stays.

use actix_web::{HttpResponse, web};
use cdp_audit::{Chain, Outcome};
use cdp_auth::{Caller, TenantPrincipal};
use cdp_domain::{Email, Role, UserId};
use cdp_http::Routes;
use serde::Deserialize;

use crate::{ApiError, ApiState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Members");
    r.get("/v1/members", list).summary("List the members").ok();
    r.post("/v1/members", add)
        .summary("Invite a member")
        .body::<NewMember>()
        .created();
    r.patch("/v1/members/{user_id}", change)
        .summary("Change a member's role")
        .body::<RoleChange>()
        .ok();
    r.delete("/v1/members/{user_id}", remove)
        .summary("Remove a member")
        .no_content();
}

/// The role whose rights over other members the caller has. An API key with every scope
/// acts as an owner; one with `members:write` as an admin.
fn managing_role(principal: &TenantPrincipal) -> Role {
    match &principal.caller {
        Caller::Member { role, .. } => *role,
        Caller::ApiKey { scopes, .. } if scopes.iter().any(|s| s == cdp_tenancy::ALL_SCOPES) => {
            Role::Owner
        }
        Caller::ApiKey { .. } => Role::Admin,
    }
}

fn parse_role(text: &str) -> Result<Role, ApiError> {
    text.parse()
        .map_err(|e: cdp_domain::DomainError| ApiError::Invalid(e.to_string()))
}

fn parse_user(text: &str) -> Result<UserId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound("member"))
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let members = cdp_tenancy::list_members(&state.db, principal.tenant_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "members": members })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMember {
    email: String,
    role: String,
}

async fn add(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    body: web::Json<NewMember>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::Invalid(e.to_string()))?;
    let role = parse_role(&body.role)?;
    if !managing_role(&principal).may_manage(role) {
        return Err(ApiError::Forbidden(
            "only an owner can make someone an owner",
        ));
    }
    let invited = cdp_auth::invite_member(&state.db, principal.tenant_id, &email, role)
        .await
        .map_err(|e| match e {
            cdp_auth::AuthError::NotAllowed(message) => ApiError::Conflict(message),
            other => ApiError::Auth(other),
        })?;
    principal
        .record(
            "member.add",
            Some(("user", invited.user_id.to_string())),
            Outcome::Success,
            serde_json::json!({"role": role.as_str(), "new_user": invited.one_time_password.is_some()}),
        )
        .await;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "user_id": invited.user_id,
        "email": email.as_str(),
        "role": role.as_str(),
        // Shown once: the new user signs in with it and must then choose a password.
        "one_time_password": invited.one_time_password,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleChange {
    role: String,
}

/// Loads the member and checks the caller may act on them.
async fn target(
    principal: &TenantPrincipal,
    state: &ApiState,
    user: &str,
) -> Result<(UserId, Role), ApiError> {
    let user = parse_user(user)?;
    let member = cdp_tenancy::find_member(&state.db, principal.tenant_id, user)
        .await?
        .ok_or(ApiError::NotFound("member"))?;
    if !managing_role(principal).may_manage(member.role) {
        return Err(ApiError::Forbidden(
            "only an owner can change or remove an owner",
        ));
    }
    Ok((user, member.role))
}

/// Refuses what would leave the tenant without an owner.
async fn keep_an_owner(
    principal: &TenantPrincipal,
    state: &ApiState,
    current: Role,
) -> Result<(), ApiError> {
    if current == Role::Owner
        && cdp_tenancy::count_owners(&state.db, principal.tenant_id).await? <= 1
    {
        return Err(ApiError::Conflict("a workspace keeps at least one owner"));
    }
    Ok(())
}

async fn change(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    user: web::Path<String>,
    body: web::Json<RoleChange>,
) -> Result<HttpResponse, ApiError> {
    let (user, current) = target(&principal, &state, &user).await?;
    let role = parse_role(&body.role)?;
    if !managing_role(&principal).may_manage(role) {
        return Err(ApiError::Forbidden(
            "only an owner can make someone an owner",
        ));
    }
    if role != Role::Owner {
        keep_an_owner(&principal, &state, current).await?;
    }
    let txn = cdp_storage::begin_write(&state.db).await?;
    cdp_tenancy::set_role(&txn, principal.tenant_id, user, role).await?;
    cdp_audit::append(
        &txn,
        Chain::Tenant(principal.tenant_id),
        principal.audit_entry(
            "member.role",
            Some(("user", user.to_string())),
            Outcome::Success,
            serde_json::json!({"from": current.as_str(), "to": role.as_str()}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"user_id": user, "role": role.as_str()})))
}

async fn remove(
    principal: TenantPrincipal,
    state: web::Data<ApiState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (user, current) = target(&principal, &state, &user).await?;
    keep_an_owner(&principal, &state, current).await?;
    let txn = cdp_storage::begin_write(&state.db).await?;
    cdp_tenancy::remove_member(&txn, principal.tenant_id, user).await?;
    cdp_audit::append(
        &txn,
        Chain::Tenant(principal.tenant_id),
        principal.audit_entry(
            "member.remove",
            Some(("user", user.to_string())),
            Outcome::Success,
            serde_json::json!({"role": current.as_str()}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
