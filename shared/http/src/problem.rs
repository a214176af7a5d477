use actix_web::http::StatusCode;
use actix_web::http::header::RETRY_AFTER;
use actix_web::{HttpResponse, error, web};
use serde::Serialize;

/// The error body. Tracking SDKs read exactly these two fields.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

pub fn problem(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(Problem { code, message })
}

/// An error the client should retry after `seconds` (429 and 503).
pub fn problem_with_retry(
    status: StatusCode,
    code: &str,
    message: &str,
    seconds: u64,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((RETRY_AFTER, seconds.to_string()))
        .json(Problem { code, message })
}

pub async fn not_found() -> HttpResponse {
    problem(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

fn bad_request(message: String) -> error::Error {
    let response = problem(StatusCode::BAD_REQUEST, "invalid_request", &message);
    error::InternalError::from_response(message, response).into()
}

/// JSON bodies that fail to parse answer 400 with the shared error body.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _| match err {
            error::JsonPayloadError::OverflowKnownLength { .. }
            | error::JsonPayloadError::Overflow { .. } => {
                let message = err.to_string();
                let response = problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", &message);
                error::InternalError::from_response(message, response).into()
            }
            other => bad_request(format!("invalid JSON body: {other}")),
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| bad_request(format!("invalid query: {err}")))
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _| bad_request(format!("invalid path: {err}")))
}
