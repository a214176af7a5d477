//! The tracking API: `/v1/identify`, `/v1/track`, `/v1/page`, `/v1/screen`, `/v1/group`,
//! `/v1/alias`, `/v1/batch` and the browser SDK's one-letter forms.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use cdp_domain::EventType;
use cdp_http::Routes;
use cdp_tenancy::{SourceKind, WriteKeyGrant};
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

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Tracking");
    for (long, short, endpoint) in ENDPOINTS {
        for name in [long, short] {
            let path = format!("/v1/{name}");
            let registered = path.clone();
            let summary = match (name == short, endpoint) {
                (true, _) => {
                    format!("/v1/{long} under its one-letter name, as the browser SDK sends it")
                }
                (false, Endpoint::Batch) => {
                    "Send up to 2,500 events of any type at once".to_owned()
                }
                (false, Endpoint::Single(_)) => format!("Send one {long} event"),
            };
            r.custom("POST", path, move |cfg| {
                cfg.service(
                    web::resource(registered)
                        .route(web::post().to(
                            move |request: HttpRequest,
                                  payload: web::Payload,
                                  state: web::Data<IngestState>| {
                                track(request, payload, state, endpoint)
                            },
                        ))
                        .default_service(web::to(method_not_allowed)),
                );
            })
            .summary(summary)
            .body_schema(tracking_schema(endpoint))
            .ok();
        }
    }
}

/// The tracking body as the document shows it: the common fields of the tracking spec,
/// open to any other (properties, traits and context are free-form).
fn tracking_schema(endpoint: Endpoint) -> serde_json::Value {
    let event = serde_json::json!({
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["identify", "track", "page", "screen", "group", "alias"]},
            "userId": {"type": "string"},
            "anonymousId": {"type": "string"},
            "messageId": {"type": "string"},
            "event": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "properties": {"type": "object"},
            "traits": {"type": "object"},
            "context": {"type": "object"},
            "writeKey": {"type": "string"},
        },
    });
    match endpoint {
        Endpoint::Batch => serde_json::json!({
            "type": "object",
            "required": ["batch"],
            "properties": {
                // The limit is stated rather than set as `maxItems`: generators build
                // arrays at the bound, 2,501 events deep, which tools choke on.
                "batch": {"type": "array", "items": event,
                          "description": "At most 2,500 events, each at most 32 KB."},
                "writeKey": {"type": "string"},
                "context": {"type": "object"},
            },
        }),
        Endpoint::Single(_) => event,
    }
}

async fn track(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<IngestState>,
    endpoint: Endpoint,
) -> Result<HttpResponse, IngestError> {
    let _admitted = state.admit()?;
    // A key in the header is checked before the body is read at all.
    let header_grant = match cdp_http::presented_credential(&request) {
        Some(_) => Some(authenticate(&state, &request, None).await?),
        None => None,
    };
    // What the sender must mend is kept for the source's debugger, once the source is known.
    let refused = |grant: Option<&WriteKeyGrant>, error: IngestError| {
        if let Some(grant) = grant {
            state
                .refusals
                .record(grant.tenant_id, grant.source_id, &error);
        }
        error
    };
    let body = read_body(&request, payload, MAX_BODY_BYTES)
        .await
        .map_err(|e| refused(header_grant.as_ref(), e))?;
    let received_at = Utc::now();
    let parsed =
        parse_request(endpoint, &body).map_err(|e| refused(header_grant.as_ref(), e.into()))?;
    let grant = match header_grant {
        Some(grant) => grant,
        None => authenticate(&state, &request, parsed.write_key.as_deref()).await?,
    };
    if grant.source_kind != SourceKind::Tracking {
        return Err(refused(
            Some(&grant),
            IngestError::Forbidden(
                "this write key belongs to a webhook source: post its payloads to /v1/webhooks",
            ),
        ));
    }
    let events = normalize(parsed, received_at, &mut || Uuid::new_v4().to_string())
        .map_err(|e| refused(Some(&grant), e.into()))?;
    state
        .limiter
        .check(grant.tenant_id, events.len())
        .await
        .map_err(|e| refused(Some(&grant), e))?;
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
