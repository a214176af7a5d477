//! One span per request, continuing the caller's W3C trace, with a request id the response
//! repeats; and the request's latency in the metrics. Spans and metrics name the route
//! template, never the path: a path may hold an identity (`/v1/profiles/email:…`).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use cdp_telemetry::metrics;
use tracing::Instrument;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, as the response's `X-Request-Id` repeats it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A caller's own request id is kept when it is short and plain; anything else is
/// replaced, since it ends up in logs.
fn request_id(request: &ServiceRequest) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=64).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

pub async fn request_telemetry(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let id = request_id(&request);
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        request_id = %id,
        tenant_id = tracing::field::Empty,
    );
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    cdp_telemetry::continue_trace(
        &span,
        header("traceparent").as_deref(),
        header("tracestate").as_deref(),
    );
    request.extensions_mut().insert(RequestId(id.clone()));

    let result = next.call(request).instrument(span.clone()).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    let took = started.elapsed();
    span.in_scope(|| {
        tracing::debug!(
            status = status.as_u16(),
            elapsed_ms = took.as_secs_f64() * 1000.0,
            "request served"
        )
    });
    metrics::HTTP_REQUEST_SECONDS.observe_duration(&format!("{method} {route}"), took);
    metrics::HTTP_RESPONSES.add(&format!("{}xx", status.as_u16() / 100), 1);
    let mut response = result?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

/// Puts the tenant a request acts for on its span, once the credentials have said which.
pub fn record_tenant(tenant: &dyn std::fmt::Display) {
    tracing::Span::current().record("tenant_id", tracing::field::display(tenant));
}
