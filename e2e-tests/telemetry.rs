//! Telemetry end to end: the traces of one ingested event reach an OTLP collector (the
//! tests' receiver, decoding what the exporter sends), continuing the caller's trace and
//! handing it on to a webhook; `/metrics` is scraped; the logs are JSON with the request's
//! ids and never hold the personal data the events carried.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};

use crate::access::call;
use crate::destinations::{created, quick};
use crate::helpers::{Server, http, isolated_env, suite_env};
use crate::profiles::{caught_up, profile_when, send};
use crate::receiver::Receiver;

const EMAIL: &str = "jo.private@example.com";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                Any::StringValue(s) => s.clone(),
                Any::IntValue(i) => i.to_string(),
                Any::BoolValue(b) => b.to_string(),
                Any::DoubleValue(d) => d.to_string(),
                _ => return None,
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// Every span the collector has received so far, with its service name.
fn exported(collector: &Receiver) -> Vec<(String, Span)> {
    let mut spans = Vec::new();
    for request in collector.received("/v1/traces") {
        let export = ExportTraceServiceRequest::decode(request.body.as_slice())
            .expect("the exporter sends OTLP protobuf");
        for resource in export.resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Any::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
    }
    spans
}

/// Waits until the spans received satisfy `done` (at most 60 seconds).
async fn spans_when(
    collector: &Receiver,
    server: &Server,
    done: impl Fn(&[Span]) -> bool,
) -> Vec<(String, Span)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let spans = exported(collector);
        let bare: Vec<Span> = spans.iter().map(|(_, s)| s.clone()).collect();
        if done(&bare) {
            return spans;
        }
        let names: Vec<&str> = bare.iter().map(|s| s.name.as_str()).collect();
        assert!(
            Instant::now() < deadline,
            "the collector never got the spans; it has {names:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_of_an_ingested_event_reach_the_collector_and_continue_to_the_webhook() {
    let collector = Receiver::start().await;
    let hook = Receiver::start().await;
    let mut env = quick(isolated_env().await);
    env.push((
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        collector.base_url.clone(),
    ));
    env.push(("OTEL_SERVICE_NAME".into(), "cdp-e2e".into()));
    // Export every 100 ms rather than every 5 s.
    env.push(("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("traces");
    let (_, _) = created(
        &server,
        &tenant,
        json!({"name": "Hook", "url": hook.url("/hook"), "purpose": "Analytics",
               "receives": {"events": true}}),
    )
    .await;

    // The caller's trace: the request's span must become its child.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = http()
        .post(server.url("/v1/track"))
        .basic_auth(&tenant.write_key, Some(""))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .header("x-request-id", "e2e-trace-1")
        .json(&json!({"userId": "jo", "event": "Signed Up",
                      "properties": {"email": EMAIL},
                      "context": {"consent": {"categoryPreferences": {"Analytics": true}}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "e2e-trace-1");

    let delivered = hook.wait_for("/hook", 1).await;
    let traceparent = delivered[0].header("traceparent").to_owned();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(
        parts.len(),
        4,
        "the webhook carries a traceparent: {traceparent:?}"
    );
    let (delivery_trace, delivery_span) = (parts[1].to_owned(), parts[2].to_owned());

    let spans = spans_when(&collector, &server, |spans| {
        let has = |name: &str| spans.iter().any(|s| s.name == name);
        has("POST /v1/track")
            && has("log.append")
            && has("db.group_commit")
            && has("projector.batch")
            && spans.iter().any(|s| hex(&s.span_id) == delivery_span)
    })
    .await;
    assert!(spans.iter().all(|(service, _)| service == "cdp-e2e"));
    let find = |name: &str| {
        spans
            .iter()
            .map(|(_, s)| s)
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span"))
    };

    let request = find("POST /v1/track");
    assert_eq!(
        hex(&request.trace_id),
        trace_id,
        "continues the caller's trace"
    );
    assert_eq!(hex(&request.parent_span_id), caller_span);
    let attrs = attributes(request);
    assert_eq!(attrs["tenant_id"], tenant.id);
    assert_eq!(attrs["request_id"], "e2e-trace-1");
    assert_eq!(attrs["http.route"], "/v1/track");
    assert_eq!(attrs["http.response.status_code"], "200");

    // The append and its database transaction sit beneath the request, in its trace.
    let append = find("log.append");
    assert_eq!(hex(&append.trace_id), trace_id);
    assert_eq!(append.parent_span_id, request.span_id);
    let commit = find("db.group_commit");
    assert_eq!(hex(&commit.trace_id), trace_id);
    assert_eq!(commit.parent_span_id, append.span_id);

    let batch = find("projector.batch");
    assert_eq!(attributes(batch)["tenant_id"], tenant.id);

    // The delivery's span is the one the webhook was told to continue.
    let deliver = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| hex(&s.span_id) == delivery_span)
        .unwrap();
    assert_eq!(deliver.name, "webhook.deliver");
    assert_eq!(hex(&deliver.trace_id), delivery_trace);
    assert_eq!(attributes(deliver)["http.response.status_code"], "200");

    // No span holds the payload's personal data.
    for (_, span) in &spans {
        for value in attributes(span).values() {
            assert!(!value.contains(EMAIL), "{} holds {value}", span.name);
        }
    }
}

/// Checks the text is Prometheus exposition format: comments, or `name{labels} value`.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut series = HashMap::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") || line.is_empty() {
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line:?}"));
        let name_end = key.find('{').unwrap_or(key.len());
        assert!(
            key[..name_end]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad metric name: {line:?}"
        );
        if name_end < key.len() {
            assert!(key.ends_with('}'), "unclosed labels: {line:?}");
        }
        assert!(
            series.insert(key.to_owned(), value).is_none(),
            "twice: {line:?}"
        );
    }
    series
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_scraped_with_ingest_projector_and_key_cache_series() {
    // A database of its own: the projector counted must be this server's.
    let mut env = isolated_env().await;
    env.push(("CDP_METRICS_TOKEN".into(), "scrape-token".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("scraped");
    send(
        &server,
        &tenant,
        (0..5)
            .map(|i| json!({"type": "track", "userId": format!("u{i}"), "event": "E"}))
            .collect(),
    )
    .await;
    let refused = http()
        .post(server.url("/v1/track"))
        .basic_auth("wk_not_a_key", Some(""))
        .json(&json!({"userId": "x", "event": "E"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let (status, _) = server
        .track(&tenant, "/v1/track", &json!({"event": "no one"}))
        .await;
    assert_eq!(status, 400);
    caught_up(&server, &tenant).await;

    let text = server.metrics("scrape-token").await;
    let series = parse_metrics(&text);
    let get = |key: &str| {
        *series
            .get(key)
            .unwrap_or_else(|| panic!("no {key} in\n{text}"))
    };
    assert_eq!(get("cdp_ingest_events_total"), 5.0);
    assert_eq!(
        get("cdp_http_request_duration_seconds_count{route=\"POST /v1/batch\"}"),
        1.0
    );
    assert_eq!(
        get("cdp_http_request_duration_seconds_count{route=\"POST /v1/track\"}"),
        2.0
    );
    assert_eq!(
        get("cdp_ingest_batch_events_sum{channel=\"tracking\"}"),
        5.0
    );
    assert_eq!(
        get("cdp_ingest_rejected_requests_total{reason=\"unauthorized\"}"),
        1.0
    );
    assert_eq!(
        get("cdp_ingest_rejected_requests_total{reason=\"invalid_request\"}"),
        1.0
    );
    assert!(get("cdp_projector_batch_events_sum{kind=\"events\"}") >= 5.0);
    assert!(get("cdp_projector_batch_duration_seconds_count{kind=\"events\"}") >= 1.0);
    assert!(get("cdp_key_cache_hits_total") + get("cdp_key_cache_misses_total") > 0.0);
    assert_eq!(get("cdp_ingest_queued_events"), 0.0);
    let lag = format!(
        "cdp_projection_lag_events{{tenant_id=\"{}\",generation=\"active\"}}",
        tenant.id
    );
    assert_eq!(get(&lag), 0.0);
    // The route template, never a path that names someone.
    assert!(!text.contains("/v1/profiles/user_id:"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_with_request_ids_and_never_hold_personal_data() {
    let mut env = suite_env();
    env.push(("CDP_LOG_FORMAT".into(), "json".into()));
    // As much as the process will say, its libraries included.
    env.push(("RUST_LOG".into(), "debug".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("quiet");
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "identify", "userId": EMAIL, "traits": {"email": EMAIL, "name": "Jo"}}),
            json!({"type": "track", "userId": EMAIL, "event": "Ordered",
                   "properties": {"contact": EMAIL}, "context": {"traits": {"email": EMAIL}}}),
        ],
    )
    .await;
    // Refused input that holds the address, and lookups that name it.
    let (status, _) = server
        .track(&tenant, "/v1/track", &json!({"userId": EMAIL, "event": 7}))
        .await;
    assert_eq!(status, 400);
    profile_when(&server, &tenant, &format!("email:{EMAIL}"), |p| {
        p["traits"]["name"]["value"] == "Jo"
    })
    .await;
    let (status, _) = call(
        &server,
        "POST",
        "/v1/profiles/search",
        &tenant.api_key,
        Some(&json!({"conditions": [{"trait": "email", "op": "equals", "value": EMAIL}]})),
    )
    .await;
    assert_eq!(status, 200, "search");
    let response = http()
        .get(server.url("/v1/tenant"))
        .bearer_auth(&tenant.api_key)
        .header("x-request-id", "find-me-in-the-log")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    caught_up(&server, &tenant).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = server.log();
    assert!(!log.contains(EMAIL), "the log holds the e-mail address");
    assert!(
        !log.contains("jo.private"),
        "the log holds part of the address"
    );
    let mut served = None;
    for line in log.lines() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if entry["message"] == "request served"
            && entry["span"]["request_id"] == "find-me-in-the-log"
        {
            served = Some(entry);
        }
    }
    let served = served.unwrap_or_else(|| panic!("no request line:\n{log}"));
    assert_eq!(served["span"]["tenant_id"], tenant.id.as_str());
    assert_eq!(served["span"]["http.route"], "/v1/tenant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_exported_over_otlp_too_when_an_endpoint_is_configured() {
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;

    let collector = Receiver::start().await;
    let mut env = suite_env();
    env.push((
        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
        collector.base_url.clone(),
    ));
    env.push(("OTEL_METRIC_EXPORT_INTERVAL".into(), "200".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("otlp-metrics");
    send(
        &server,
        &tenant,
        (0..3)
            .map(|i| json!({"type": "track", "userId": format!("m{i}"), "event": "E"}))
            .collect(),
    )
    .await;

    // Exports are cumulative: the latest one that has the series says where it stands.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (events, requests, cache) = loop {
        let mut found = (None, None, None);
        for request in collector.received("/v1/metrics") {
            let export = ExportMetricsServiceRequest::decode(request.body.as_slice())
                .expect("the exporter sends OTLP protobuf");
            let metrics = export
                .resource_metrics
                .into_iter()
                .flat_map(|r| r.scope_metrics)
                .flat_map(|s| s.metrics);
            for metric in metrics {
                match (metric.name.as_str(), metric.data) {
                    ("cdp_ingest_events", Some(Data::Sum(sum))) => {
                        found.0 = sum.data_points.iter().find_map(|p| match p.value {
                            Some(Number::AsInt(n)) => Some(n),
                            _ => None,
                        });
                    }
                    ("cdp_http_request_duration_seconds", Some(Data::Histogram(h))) => {
                        found.1 = h
                            .data_points
                            .iter()
                            .find(|p| {
                                p.attributes.iter().any(|kv| {
                                    kv.key == "route"
                                        && matches!(
                                            kv.value.as_ref().and_then(|v| v.value.as_ref()),
                                            Some(Any::StringValue(s)) if s == "POST /v1/batch"
                                        )
                                })
                            })
                            .map(|p| p.count);
                    }
                    ("cdp_key_cache_misses", Some(Data::Sum(_))) => found.2 = Some(()),
                    _ => {}
                }
            }
        }
        if let (Some(events), Some(requests), Some(cache)) = found
            && events >= 3
        {
            break (events, requests, cache);
        }
        assert!(
            Instant::now() < deadline,
            "no complete metrics export reached the collector: {found:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(events, 3);
    assert_eq!(requests, 1);
    let () = cache;
}
