//! Webhook sources: third-party systems post their own JSON, and the source's mapping turns
//! it into events. The write key comes in the URL (`/v1/webhooks/{write key}`, for systems
//! that cannot set headers) or in the `Authorization` header (`/v1/webhooks`).

use actix_web::{HttpRequest, HttpResponse, web};
use cdp_http::Routes;
use cdp_tenancy::SourceKind;
use cdp_tracking::limits::MAX_BODY_BYTES;
use cdp_tracking::{WebhookMapping, normalize, webhook_request};
use chrono::Utc;
use uuid::Uuid;

use crate::auth::authenticate;
use crate::body::read_body;
use crate::tracking::method_not_allowed;
use crate::{IngestError, IngestState, store};

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Webhooks");
    r.custom("POST", "/v1/webhooks", |cfg| {
        cfg.service(
            web::resource("/v1/webhooks")
                .route(web::post().to(
                    |request: HttpRequest, payload: web::Payload, state: web::Data<IngestState>| {
                        receive(request, payload, state, None)
                    },
                ))
                .default_service(web::to(method_not_allowed)),
        );
    })
    .summary("Receive a third-party webhook; the source's mapping turns it into events")
    .any_body()
    .ok();
    r.custom("POST", "/v1/webhooks/{write_key}", |cfg| {
        cfg.service(
            web::resource("/v1/webhooks/{write_key}")
                .route(web::post().to(
                    |request: HttpRequest,
                     payload: web::Payload,
                     state: web::Data<IngestState>,
                     key: web::Path<String>| {
                        receive(request, payload, state, Some(key.into_inner()))
                    },
                ))
                .default_service(web::to(method_not_allowed)),
        );
    })
    .summary("Receive a webhook whose sender can only be given a URL (the write key in the path)")
    .any_body()
    .ok();
}

async fn receive(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<IngestState>,
    path_key: Option<String>,
) -> Result<HttpResponse, IngestError> {
    let _admitted = state.admit()?;
    let grant = authenticate(&state, &request, path_key.as_deref()).await?;
    let source = cdp_tenancy::find_source(&state.db, grant.tenant_id, grant.source_id)
        .await
        .map_err(IngestError::unavailable)?
        .ok_or(IngestError::Unauthorized("unknown or revoked write key"))?;
    let mapping = match (source.kind, &source.config) {
        (SourceKind::Webhook, Some(config)) => serde_json::from_str(config)
            .ok()
            .and_then(|config| WebhookMapping::from_json(&config).ok())
            .ok_or_else(|| {
                IngestError::internal(std::io::Error::other("stored webhook mapping is invalid"))
            })?,
        _ => {
            return Err(IngestError::Forbidden(
                "this write key belongs to a tracking source: send tracking calls to /v1/track, /v1/batch, …",
            ));
        }
    };
    let body = read_body(&request, payload, MAX_BODY_BYTES).await?;
    let received_at = Utc::now();
    let parsed = webhook_request(&mapping, &body)?;
    let events = normalize(parsed, received_at, &mut || Uuid::new_v4().to_string())?;
    state.limiter.check(grant.tenant_id, events.len()).await?;
    cdp_telemetry::metrics::INGEST_BATCH_EVENTS.observe("webhook", events.len() as f64);
    let stored = store(&state, grant.tenant_id, Some(grant.source_id), events).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "success": true,
        "stored": stored.stored,
        "duplicates": stored.duplicates,
        "suppressed": stored.suppressed,
    })))
}
