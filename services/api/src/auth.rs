//! Signing in and out, refreshing, changing one's password.

use actix_web::{HttpRequest, HttpResponse, web};
use cdp_auth::{Authenticator, LoginRequest, SignedIn, source_ip};
use cdp_http::Routes;
use serde::Deserialize;

use crate::ApiError;

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Sign-in");
    r.post("/v1/auth/login", login)
        .summary("Sign in with e-mail and password")
        .body::<LoginRequest>()
        .ok();
    r.post("/v1/auth/refresh", refresh)
        .summary("Exchange a refresh token for new tokens")
        .body::<RefreshBody>()
        .ok();
    r.post("/v1/auth/logout", logout)
        .summary("Revoke a refresh token")
        .body::<RefreshBody>()
        .no_content();
    r.post("/v1/auth/password", password)
        .summary("Change the signed-in person's password")
        .body::<PasswordBody>()
        .no_content();
    r.get("/v1/auth/me", me)
        .summary("Who is signed in, and their workspaces")
        .ok();
}

async fn login(
    request: HttpRequest,
    authenticator: web::Data<Authenticator>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let session = authenticator
        .login(body.into_inner(), source_ip(&request).as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(session))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    authenticator: web::Data<Authenticator>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(authenticator.refresh(&body.refresh_token).await?))
}

async fn logout(
    authenticator: web::Data<Authenticator>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    authenticator.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

async fn password(
    who: SignedIn,
    authenticator: web::Data<Authenticator>,
    body: web::Json<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    authenticator
        .change_password(who.user_id, &body.current_password, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn me(
    who: SignedIn,
    authenticator: web::Data<Authenticator>,
) -> Result<HttpResponse, ApiError> {
    let db = authenticator.db();
    let user = cdp_tenancy::find_user(db, who.user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let mut workspaces = Vec::new();
    for (tenant, role) in cdp_tenancy::memberships_of(db, who.user_id).await? {
        if let Some(found) = cdp_tenancy::find_tenant(db, tenant).await? {
            workspaces.push(serde_json::json!({"tenant_id": tenant, "name": found.name, "status": found.status, "role": role.as_str()}));
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "user_id": user.id,
        "email": user.email.as_str(),
        "platform_admin": user.platform_admin,
        "password_change_required": user.password_change_required,
        "workspaces": workspaces,
    })))
}
