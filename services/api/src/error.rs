use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use cdp_auth::AuthError;
use cdp_http::{problem, problem_with_retry};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Invalid(String),
    /// Invalid, with details of where (paths of bad nodes, a position in a text).
    #[error("{message}")]
    Rejected {
        message: String,
        details: serde_json::Value,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    /// What was asked for existed once and is gone for good.
    #[error("{0}")]
    Gone(&'static str),
    /// Not ready yet; the same request succeeds shortly.
    #[error("{0}")]
    NotReady(&'static str),
    #[error("storage is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub(crate) fn storage(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Unavailable(Box::new(e))
    }

    pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl From<cdp_tenancy::TenancyError> for ApiError {
    fn from(e: cdp_tenancy::TenancyError) -> Self {
        match e {
            cdp_tenancy::TenancyError::Conflict(message) => ApiError::Conflict(message),
            cdp_tenancy::TenancyError::InvalidLimit => ApiError::Invalid(e.to_string()),
            other => ApiError::storage(other),
        }
    }
}

impl From<cdp_audit::AuditError> for ApiError {
    fn from(e: cdp_audit::AuditError) -> Self {
        ApiError::storage(e)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::storage(e)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Auth(e) => e.status_code(),
            ApiError::Invalid(_) | ApiError::Rejected { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) | ApiError::NotReady(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            ApiError::Auth(e) => e.error_response(),
            ApiError::Invalid(message) => problem(status, "invalid_request", message),
            ApiError::Rejected { message, details } => {
                let mut body = serde_json::json!({"code": "invalid_request", "message": message});
                if let (Some(body), Some(details)) = (body.as_object_mut(), details.as_object()) {
                    body.extend(details.clone());
                }
                HttpResponse::build(status).json(body)
            }
            ApiError::NotFound(_) => problem(status, "not_found", &self.to_string()),
            ApiError::Forbidden(message) => problem(status, "forbidden", message),
            ApiError::Conflict(message) => problem(status, "conflict", message),
            ApiError::Gone(message) => problem(status, "gone", message),
            ApiError::NotReady(message) => problem_with_retry(status, "not_ready", message, 1),
            ApiError::Unavailable(source) => {
                tracing::warn!(error = %source, "management API: storage unavailable");
                problem_with_retry(status, "unavailable", &self.to_string(), 2)
            }
            ApiError::Internal(source) => {
                tracing::error!(error = %source, "management API failed");
                problem(status, "internal", "internal error")
            }
        }
    }
}
