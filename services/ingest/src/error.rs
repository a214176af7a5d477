use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use cdp_http::{problem, problem_with_retry};
use cdp_tracking::{ErrorKind, TrackingError};
use thiserror::Error;

/// How long a client is asked to wait while storage is full: freeing space takes a person.
const STORAGE_FULL_RETRY_SECONDS: u64 = 30;

/// Everything that can stop an event from being stored, split into what the client may
/// hear (bad input, credentials, limits, load) and what only the log may hear.
#[derive(Debug, Error)]
pub enum IngestError {
    #[error(transparent)]
    Tracking(#[from] TrackingError),
    #[error("the request body is larger than {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request body is not valid gzip")]
    InvalidGzip,
    #[error("unsupported content encoding {0:?}: send the body plain or gzip-compressed")]
    UnsupportedEncoding(String),
    #[error("unsupported content type {0:?}: send application/json or text/plain")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this workspace has used its storage quota")]
    QuotaExceeded,
    #[error("rate limit exceeded for this workspace; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("the server is busy; retry shortly")]
    Overloaded,
    #[error("storage is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("storage is full: nothing more can be stored until space is freed; retry later")]
    StorageFull(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl IngestError {
    /// Storage refused the write: full storage is told apart, since only an operator heals it.
    pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        if cdp_storage::caused_by_full_storage(&e) {
            IngestError::StorageFull(Box::new(e))
        } else {
            IngestError::Unavailable(Box::new(e))
        }
    }

    pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        IngestError::Internal(Box::new(e))
    }
}

impl ResponseError for IngestError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngestError::Tracking(e) => match e.kind {
                ErrorKind::Invalid | ErrorKind::TooManyEvents => StatusCode::BAD_REQUEST,
                ErrorKind::EventTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            },
            IngestError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::InvalidGzip => StatusCode::BAD_REQUEST,
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedMediaType(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            IngestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngestError::Forbidden(_) | IngestError::QuotaExceeded => StatusCode::FORBIDDEN,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Overloaded | IngestError::Unavailable(_) | IngestError::StorageFull(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = self.code();
        cdp_telemetry::metrics::INGEST_REJECTED.add(code, 1);
        match self {
            IngestError::Tracking(e) => problem(status, code, &e.message),
            IngestError::RateLimited { retry_after } => {
                problem_with_retry(status, code, &self.to_string(), *retry_after)
            }
            IngestError::Overloaded => problem_with_retry(status, code, &self.to_string(), 1),
            IngestError::Unavailable(source) => {
                tracing::warn!(error = %chain(source.as_ref()), "ingest refused: storage unavailable");
                problem_with_retry(status, code, &self.to_string(), 2)
            }
            IngestError::StorageFull(source) => {
                tracing::error!(error = %chain(source.as_ref()), "ingest refused: storage is full");
                problem_with_retry(status, code, &self.to_string(), STORAGE_FULL_RETRY_SECONDS)
            }
            IngestError::Internal(source) => {
                tracing::error!(error = %chain(source.as_ref()), "ingest failed");
                problem(status, code, "internal error")
            }
            _ => problem(status, code, &self.to_string()),
        }
    }
}

impl IngestError {
    /// The error's code in the response body, and its reason in the rejection metrics.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            IngestError::Tracking(e) => e.kind.code(),
            IngestError::BodyTooLarge { .. } => "body_too_large",
            IngestError::InvalidGzip => "invalid_request",
            IngestError::UnsupportedEncoding(_) | IngestError::UnsupportedMediaType(_) => {
                "unsupported_media_type"
            }
            IngestError::Unauthorized(_) => "unauthorized",
            IngestError::Forbidden(_) => "forbidden",
            IngestError::QuotaExceeded => "quota_exceeded",
            IngestError::RateLimited { .. } => "rate_limited",
            IngestError::Overloaded => "overloaded",
            IngestError::Unavailable(_) => "unavailable",
            IngestError::StorageFull(_) => "storage_full",
            IngestError::Internal(_) => "internal",
        }
    }
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
