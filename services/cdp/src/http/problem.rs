//! The error body every endpoint uses: `{"code": "...", "message": "..."}`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
pub(crate) struct Problem<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

pub(crate) fn respond(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(Problem { code, message })
}

pub(crate) async fn not_found() -> HttpResponse {
    respond(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
