//! `POST /v1/imports` (the body is the file, streamed), `GET /v1/imports`,
//! `GET /v1/imports/{id}`. API key with the `imports:write` scope.

use cdp_http::Routes;
use std::io;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_ENCODING;
use actix_web::{HttpRequest, HttpResponse, web};
use cdp_auth::TenantPrincipal;
use cdp_domain::{ImportId, SourceId};
use futures::StreamExt;
use serde::Deserialize;

use super::bridge::{ChannelReader, LazyGunzip};
use super::{CsvMapping, ImportFormat, job, run_import};
use crate::{IngestError, IngestState};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Imports");
    r.post("/v1/imports", create)
        .summary("Import a file of historical events (NDJSON) or profiles (CSV)")
        .query::<ImportQuery>()
        .raw_body(&["application/x-ndjson", "text/csv", "application/gzip"])
        .ok();
    r.get("/v1/imports", list)
        .summary("List the imports and their progress")
        .ok();
    r.get("/v1/imports/{import_id}", get)
        .summary("Show an import")
        .ok();
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ImportQuery {
    format: String,
    /// For CSV: the column mapping, as JSON.
    mapping: Option<String>,
    /// The source the events are attributed to.
    source_id: Option<String>,
}

fn bad(message: impl Into<String>) -> HttpResponse {
    cdp_http::problem(StatusCode::BAD_REQUEST, "invalid_request", &message.into())
}

async fn create(
    principal: TenantPrincipal,
    state: web::Data<IngestState>,
    query: web::Query<ImportQuery>,
    request: HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, IngestError> {
    let format = match (query.format.as_str(), &query.mapping) {
        ("ndjson", None) => ImportFormat::Ndjson,
        ("ndjson", Some(_)) => return Ok(bad("an NDJSON import takes no mapping")),
        ("csv", Some(mapping)) => match CsvMapping::from_json(mapping) {
            Ok(mapping) => ImportFormat::Csv(mapping),
            Err(message) => return Ok(bad(message)),
        },
        ("csv", None) => return Ok(bad("a CSV import needs a mapping")),
        (other, _) => return Ok(bad(format!("unknown format {other:?}: use ndjson or csv"))),
    };
    let source = match &query.source_id {
        None => None,
        Some(id) => {
            let found = match id.parse::<SourceId>() {
                Ok(id) => cdp_tenancy::find_source(&state.db, principal.tenant_id, id)
                    .await
                    .map_err(IngestError::unavailable)?,
                Err(_) => None,
            };
            match found {
                Some(source) => Some(source.id),
                None => {
                    return Ok(cdp_http::problem(
                        StatusCode::NOT_FOUND,
                        "not_found",
                        "source not found",
                    ));
                }
            }
        }
    };
    let gzip = match request
        .headers()
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("gzip") => true,
        Some(v) if v.eq_ignore_ascii_case("identity") => false,
        Some(v) => return Err(IngestError::UnsupportedEncoding(v.to_owned())),
    };

    // The upload is fed chunk by chunk to the parser while the import runs.
    let (chunks, receiver) = tokio::sync::mpsc::channel(16);
    let reader = ChannelReader::new(receiver);
    let input: Box<dyn io::Read + Send> = if gzip {
        Box::new(LazyGunzip::new(reader))
    } else {
        Box::new(reader)
    };
    let feed = async move {
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| io::Error::other(format!("the upload was interrupted: {e}")));
            let failed = chunk.is_err();
            if chunks.send(chunk).await.is_err() || failed {
                break;
            }
        }
    };
    let mut no_progress = |_: &super::ImportJob| {};
    let import = run_import(
        &state,
        principal.tenant_id,
        source,
        format,
        input,
        &mut no_progress,
    );
    let ((), job) = futures::join!(feed, import);
    Ok(HttpResponse::Ok().json(job?))
}

async fn list(
    principal: TenantPrincipal,
    state: web::Data<IngestState>,
) -> Result<HttpResponse, IngestError> {
    let jobs = job::list(&state.db, principal.tenant_id)
        .await
        .map_err(IngestError::unavailable)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "imports": jobs })))
}

async fn get(
    principal: TenantPrincipal,
    state: web::Data<IngestState>,
    id: web::Path<String>,
) -> Result<HttpResponse, IngestError> {
    let found = match id.parse::<ImportId>() {
        Ok(id) => job::find(&state.db, principal.tenant_id, id)
            .await
            .map_err(IngestError::unavailable)?,
        Err(_) => None,
    };
    Ok(match found {
        Some(job) => HttpResponse::Ok().json(job),
        None => cdp_http::problem(StatusCode::NOT_FOUND, "not_found", "import not found"),
    })
}
