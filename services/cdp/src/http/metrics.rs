//! `/metrics`: Prometheus text for scrapers, behind its own bearer token
//! (`CDP_METRICS_TOKEN`), since it names every tenant. Off when no token is configured.

use std::fmt::Write;

use actix_web::{HttpRequest, HttpResponse, web};
use cdp_config::Secret;
use cdp_http::{Content, Routes};
use cdp_ingest::IngestState;
use cdp_telemetry::metrics::{self, render_value};
use sha2::{Digest, Sha256};

use crate::Runtime;

pub(crate) struct MetricsToken(pub Option<Secret>);

/// This process's delivery counters, when it runs a dispatcher.
pub(crate) struct Deliveries(pub Option<std::sync::Arc<cdp_dispatcher::DeliveryCounters>>);

pub(crate) fn routes(r: &mut Routes) {
    r.tag("Operations");
    r.get("/metrics", metrics)
        .summary("Prometheus metrics, behind the metrics token (404 when none is configured)")
        .answers(200, Content::Raw("text/plain"))
        .error(401)
        .error(404)
        .error(503);
}

/// Compares digests, so the time taken says nothing about how much of the token matched.
fn token_matches(expected: &Secret, request: &HttpRequest) -> bool {
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    Sha256::digest(given.as_bytes()) == Sha256::digest(expected.expose().as_bytes())
}

async fn metrics(
    request: HttpRequest,
    token: web::Data<MetricsToken>,
    runtime: web::Data<Runtime>,
    ingest: Option<web::Data<IngestState>>,
    deliveries: web::Data<Deliveries>,
) -> HttpResponse {
    let Some(expected) = &token.0 else {
        return cdp_http::not_found().await;
    };
    if !token_matches(expected, &request) {
        return cdp_http::problem(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send the metrics token as Authorization: Bearer",
        );
    }
    let generations = match cdp_profile_store::generation_metrics(&runtime.db).await {
        Ok(generations) => generations,
        Err(e) => {
            tracing::warn!(error = %crate::error_chain(&e), "metrics: storage unavailable");
            return cdp_http::problem_with_retry(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "storage is unavailable",
                2,
            );
        }
    };
    let mut text = String::new();
    if let Some(ingest) = &ingest {
        render_value(
            &mut text,
            "cdp_ingest_queued_events",
            "gauge",
            "Events waiting for a commit in this process.",
            ingest.committer.queued_events(),
        );
        render_value(
            &mut text,
            "cdp_ingest_suppressed_events_total",
            "counter",
            "Events dropped because they named a suppressed person.",
            ingest.suppressed_events(),
        );
    }
    let keys = runtime.keyring.cache_stats();
    render_value(
        &mut text,
        "cdp_key_cache_hits_total",
        "counter",
        "Data-key lookups answered from this process's cache.",
        keys.hits,
    );
    render_value(
        &mut text,
        "cdp_key_cache_misses_total",
        "counter",
        "Data-key lookups that went to the database.",
        keys.misses,
    );
    metrics::render(&mut text);
    if let Some(counters) = &deliveries.0 {
        let _ = writeln!(
            text,
            "# HELP cdp_deliveries_total Delivery attempts and routings of this process, by outcome.\n\
             # TYPE cdp_deliveries_total counter"
        );
        for (outcome, n) in counters.by_outcome() {
            let _ = writeln!(text, "cdp_deliveries_total{{outcome=\"{outcome}\"}} {n}");
        }
    }
    let mut series =
        |name: &str,
         kind: &str,
         help: &str,
         value: &dyn Fn(&cdp_profile_store::GenerationMetric) -> i64| {
            let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for g in &generations {
                let _ = writeln!(
                    text,
                    "{name}{{tenant_id=\"{}\",generation=\"{}\"}} {}",
                    g.tenant,
                    g.status.as_str(),
                    value(g)
                );
            }
        };
    series(
        "cdp_projection_lag_events",
        "gauge",
        "Events in the log not yet in the tenant's profiles.",
        &|g| g.lag,
    );
    series(
        "cdp_projection_stopped",
        "gauge",
        "1 while the projection is stopped at an event it cannot apply.",
        &|g| i64::from(g.stopped),
    );
    series(
        "cdp_projection_events_applied_total",
        "counter",
        "Events applied to profiles.",
        &|g| g.events_applied,
    );
    series(
        "cdp_projection_events_shredded_total",
        "counter",
        "Events skipped because their key was shredded.",
        &|g| g.events_shredded,
    );
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}
