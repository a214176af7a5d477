use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use cdp_domain::Permission;
use cdp_http::{problem, problem_with_retry};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AuthError {
    #[error(
        "a credential is required: send an API key or an access token as Authorization: Bearer"
    )]
    Missing,
    #[error("unknown or revoked API key")]
    InvalidKey,
    #[error("invalid access token: {0}")]
    InvalidToken(&'static str),
    #[error("wrong e-mail address or password")]
    InvalidCredentials,
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("this workspace is suspended")]
    Suspended,
    #[error("this credential does not allow {}", .0.as_str())]
    Forbidden(Permission),
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("choose a new password first: POST /v1/auth/password")]
    PasswordChangeRequired,
    #[error("too many failed sign-ins; retry in {0} s")]
    Throttled(u64),
    #[error("weak password: {0}")]
    WeakPassword(&'static str),
    #[error("several workspaces match: name one with tenant_id")]
    TenantRequired {
        tenants: Vec<serde_json::Value>,
        /// Whether the person may also choose the platform (`platform: true`).
        platform_admin: bool,
    },
    #[error("internal error: this endpoint is missing from the access table")]
    Unguarded,
    #[error("credentials cannot be checked right now")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AuthError {
    pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        AuthError::Unavailable(Box::new(e))
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::Missing
            | AuthError::InvalidKey
            | AuthError::InvalidToken(_)
            | AuthError::InvalidCredentials
            | AuthError::InvalidRefreshToken => StatusCode::UNAUTHORIZED,
            AuthError::Suspended
            | AuthError::Forbidden(_)
            | AuthError::NotAllowed(_)
            | AuthError::PasswordChangeRequired => StatusCode::FORBIDDEN,
            AuthError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            AuthError::WeakPassword(_) | AuthError::TenantRequired { .. } => {
                StatusCode::BAD_REQUEST
            }
            AuthError::Unguarded => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = self.to_string();
        match self {
            AuthError::Missing
            | AuthError::InvalidKey
            | AuthError::InvalidToken(_)
            | AuthError::InvalidCredentials
            | AuthError::InvalidRefreshToken => problem(status, "unauthorized", &message),
            AuthError::Suspended => problem(status, "suspended", &message),
            AuthError::Forbidden(_) | AuthError::NotAllowed(_) => {
                problem(status, "forbidden", &message)
            }
            AuthError::PasswordChangeRequired => {
                problem(status, "password_change_required", &message)
            }
            AuthError::Throttled(seconds) => {
                problem_with_retry(status, "throttled", &message, *seconds)
            }
            AuthError::WeakPassword(_) => problem(status, "weak_password", &message),
            AuthError::TenantRequired {
                tenants,
                platform_admin,
            } => HttpResponse::build(status).json(serde_json::json!({
                "code": "tenant_required",
                "message": message,
                "tenants": tenants,
                "platform_admin": platform_admin,
            })),
            AuthError::Unguarded => {
                tracing::error!("a handler asked for a principal the access gate did not provide");
                problem(status, "internal", "internal error")
            }
            AuthError::Unavailable(source) => {
                tracing::warn!(error = %source, "credential check failed");
                problem_with_retry(status, "unavailable", &message, 2)
            }
        }
    }
}
