//! The tracking API: `/v1/identify`, `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/group`,
//! `/v1/alias`, `/v1/batch` and the browser SDK's one-letter forms.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use cdp_domain::EventType;
use cdp_tenancy::SourceKind;
use cdp_tracking::limits::MAX_BODY_BYTES;
use cdp_tracking::{Endpoint, normalize, parse_request};
use chrono::Utc;
use uuid::Uuid;

use crate::auth::authenticate;
use crate::body::read_body;
use crate::{IngestError, IngestState, store};

const ENDPOINTS: [(&str, &str, Endpoint); 7] = [
    ("identify", "i", Endpoint::Single(EventType::Identify)),
    ("track", "t", Endpoint::Single(EventType::Track)),
    ("page", "p", Endpoint::Single(EventType::Page)),
    ("screen", "s", Endpoint::Single(EventType::Screen)),
    ("group", "g", Endpoint::Single(EventType::Group)),
    ("alias", "a", Endpoint::Single(EventType::Alias)),
    ("batch", "b", Endpoint::Batch),
];

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    for (long, short, endpoint) in ENDPOINTS {
        for name in [long, short] {
            cfg.service(
                web::resource(format!("/v1/{name}"))
                    .route(web::post().to(
                        move |request: HttpRequest,
                              payload: web::Payload,
                              state: web::Data<IngestState>| {
                            track(request, payload, state, endpoint)
                        },
                    ))
                    .default_service(web::to(method_not_allowed)),
            );
        }
    }
}

async fn track(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<IngestState>,
    endpoint: Endpoint,
) -> Result<HttpResponse, IngestError> {
    // A key in the header is checked before the body is read at all.
    let header_grant = match cdp_http::presented_credential(&request) {
        Some(_) => Some(authenticate(&state, &request, None).await?),
        None => None,
    };
    let body = read_body(&request, payload, MAX_BODY_BYTES).await?;
    let received_at = Utc::now();
    let parsed = parse_request(endpoint, &body)?;
    let grant = match header_grant {
        Some(grant) => grant,
        None => authenticate(&state, &request, parsed.write_key.as_deref()).await?,
    };
    if grant.source_kind != SourceKind::Tracking {
        return Err(IngestError::Forbidden(
            "this write key belongs to a webhook source: post its payloads to /v1/webhooks",
        ));
    }
    let events = normalize(parsed, received_at, &mut || Uuid::new_v4().to_string())?;
    state.limiter.check(grant.tenant_id, events.len()).await?;
    cdp_telemetry::metrics::INGEST_BATCH_EVENTS.observe("tracking", events.len() as f64);
    store(&state, grant.tenant_id, Some(grant.source_id), events).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"success": true})))
}

pub(crate) async fn method_not_allowed() -> HttpResponse {
    cdp_http::problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "the tracking API takes POST requests",
    )
}
