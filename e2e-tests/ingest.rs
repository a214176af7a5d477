//! The tracking API end to end: what is accepted is stored with every field, what is not
//! gets its status and `{code, message}` and stores nothing.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use crate::helpers::{Server, Tenant, http, suite_env};

fn by_message_id<'a>(events: &'a [Value], id: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["message_id"] == id)
        .unwrap_or_else(|| panic!("no event with messageId {id}"))
}

#[tokio::test]
async fn every_call_type_is_stored_with_every_field() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("calls");
    let context =
        json!({"library": {"name": "e2e", "version": "1"}, "ip": "203.0.113.7", "locale": "fr-FR"});
    let calls = [
        (
            "/v1/identify",
            json!({"messageId": "m-identify", "userId": "u1", "traits": {"email": "ann@example.com", "plan": "pro"}, "context": context}),
        ),
        (
            "/v1/track",
            json!({"messageId": "m-track", "userId": "u1", "event": "Order Completed", "properties": {"total": 99.9, "items": [{"sku": "A-1", "qty": 2}]}, "integrations": {"All": true}}),
        ),
        (
            "/v1/page",
            json!({"messageId": "m-page", "anonymousId": "anon-1", "name": "Pricing", "properties": {"url": "https://shop.example/pricing"}}),
        ),
        (
            "/v1/screen",
            json!({"messageId": "m-screen", "userId": "u1", "name": "Cart"}),
        ),
        (
            "/v1/group",
            json!({"messageId": "m-group", "userId": "u1", "groupId": "org-9", "traits": {"name": "Acme"}}),
        ),
        (
            "/v1/alias",
            json!({"messageId": "m-alias", "userId": "u1", "previousId": "anon-1"}),
        ),
        (
            "/v1/t",
            json!({"messageId": "m-short", "userId": 42, "event": "Short Form"}),
        ),
    ];
    for (path, body) in &calls {
        let (status, answer) = server.track(&tenant, path, body).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(answer, json!({"success": true}));
    }
    let (status, _) = server
        .track(&tenant, "/v1/batch", &json!({"batch": [
            {"type": "track", "messageId": "m-batch-1", "anonymousId": "anon-2", "event": "Product Viewed"},
            {"type": "identify", "messageId": "m-batch-2", "userId": "u2", "traits": {"age": 31}},
        ], "context": {"library": {"name": "batcher"}}}))
        .await;
    assert_eq!(status, 200);

    let events = server.events(&tenant).await;
    assert_eq!(events.len(), calls.len() + 2);
    for (path, sent) in &calls {
        let id = sent["messageId"].as_str().unwrap();
        let stored = &by_message_id(&events, id)["payload"];
        for (key, value) in sent.as_object().unwrap() {
            let expected = if key == "userId" {
                json!(value.to_string().trim_matches('"'))
            } else {
                value.clone()
            };
            assert_eq!(stored[key], expected, "{path}: field {key}");
        }
        assert!(stored["receivedAt"].is_string() && stored["timestamp"].is_string());
    }
    let stored = &by_message_id(&events, "m-track")["payload"];
    assert_eq!(stored["type"], "track");
    assert_eq!(
        by_message_id(&events, "m-batch-1")["payload"]["context"]["library"]["name"],
        "batcher"
    );
    assert_eq!(by_message_id(&events, "m-short")["payload"]["userId"], "42");
    // Gapless, merge records included.
    let seqs: Vec<i64> = server
        .log_events(&tenant)
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

struct BadCase {
    name: &'static str,
    request: reqwest::RequestBuilder,
    status: u16,
    code: &'static str,
    message_has: &'static str,
}

#[tokio::test]
async fn bad_input_gets_its_status_and_code_and_stores_nothing() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("bad input");
    let url = |path: &str| server.url(path);
    let post = |path: &str| {
        http()
            .post(url(path))
            .basic_auth(&tenant.write_key, Some(""))
    };
    let big_event = json!({"type": "track", "userId": "u", "event": "e", "properties": {"blob": "x".repeat(33 * 1024)}});
    let near_full = json!({"type": "track", "userId": "u", "event": "e", "properties": {"blob": "x".repeat(30 * 1024)}});
    let too_many: Vec<Value> = (0..2501)
        .map(|i| json!({"type": "track", "userId": i, "event": "e"}))
        .collect();
    let cases = vec![
        BadCase { name: "not JSON", request: post("/v1/track").header("content-type", "application/json").body("{oops"), status: 400, code: "invalid_request", message_has: "not a JSON object" },
        BadCase { name: "no subject", request: post("/v1/track").json(&json!({"event": "e"})), status: 400, code: "invalid_request", message_has: "userId or anonymousId" },
        BadCase { name: "track without event", request: post("/v1/track").json(&json!({"userId": "u"})), status: 400, code: "invalid_request", message_has: "event is required" },
        BadCase { name: "alias without previousId", request: post("/v1/alias").json(&json!({"userId": "u"})), status: 400, code: "invalid_request", message_has: "previousId" },
        BadCase { name: "group without groupId", request: post("/v1/group").json(&json!({"userId": "u"})), status: 400, code: "invalid_request", message_has: "groupId" },
        BadCase { name: "bad timestamp", request: post("/v1/identify").json(&json!({"userId": "u", "timestamp": "last tuesday"})), status: 400, code: "invalid_request", message_has: "timestamp" },
        BadCase { name: "bad id type", request: post("/v1/identify").json(&json!({"userId": {"id": 1}})), status: 400, code: "invalid_request", message_has: "userId" },
        BadCase { name: "batch with one bad event", request: post("/v1/batch").json(&json!({"batch": [{"type": "track", "userId": "ok", "event": "e", "messageId": "would-be-stored"}, {"type": "track", "userId": "u"}]})), status: 400, code: "invalid_request", message_has: "batch[1].event" },
        BadCase { name: "too many events", request: post("/v1/batch").json(&json!({"batch": too_many})), status: 400, code: "too_many_events", message_has: "2501" },
        BadCase { name: "event over 32 KB", request: post("/v1/batch").json(&json!({"batch": [big_event]})), status: 413, code: "event_too_large", message_has: "batch[0]" },
        BadCase { name: "body over 500 KB", request: post("/v1/batch").json(&json!({"batch": vec![near_full; 17]})), status: 413, code: "body_too_large", message_has: "larger than" },
        BadCase { name: "gzip bomb", request: post("/v1/batch").header("content-encoding", "gzip").body(gzip(&vec![b' '; 20 * 1024 * 1024])), status: 413, code: "body_too_large", message_has: "larger than" },
        BadCase { name: "not gzip", request: post("/v1/batch").header("content-encoding", "gzip").body("plain"), status: 400, code: "invalid_request", message_has: "gzip" },
        BadCase { name: "other encoding", request: post("/v1/batch").header("content-encoding", "br").body("x"), status: 415, code: "unsupported_media_type", message_has: "encoding" },
        BadCase { name: "form body", request: post("/v1/track").header("content-type", "application/x-www-form-urlencoded").body("userId=u"), status: 415, code: "unsupported_media_type", message_has: "content type" },
        BadCase { name: "no key", request: http().post(url("/v1/track")).json(&json!({"userId": "u", "event": "e"})), status: 401, code: "unauthorized", message_has: "write key is required" },
        BadCase { name: "unknown key", request: http().post(url("/v1/track")).basic_auth("cdp_wk_nope", Some("")).json(&json!({"userId": "u", "event": "e"})), status: 401, code: "unauthorized", message_has: "unknown" },
        BadCase { name: "unknown key in body", request: http().post(url("/v1/track")).json(&json!({"writeKey": "cdp_wk_nope", "userId": "u", "event": "e"})), status: 401, code: "unauthorized", message_has: "unknown" },
        BadCase { name: "malformed authorization", request: http().post(url("/v1/track")).header("authorization", "Basic %%%").json(&json!({"userId": "u", "event": "e"})), status: 401, code: "unauthorized", message_has: "malformed" },
        BadCase { name: "API key is no write key", request: http().post(url("/v1/track")).bearer_auth(&tenant.api_key).json(&json!({"userId": "u", "event": "e"})), status: 401, code: "unauthorized", message_has: "unknown" },
        BadCase { name: "GET", request: http().get(url("/v1/track")), status: 405, code: "method_not_allowed", message_has: "POST" },
    ];
    for case in cases {
        let response = case.request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(body["code"], case.code, "{}: {body}", case.name);
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(case.message_has),
            "{}: {message:?}",
            case.name
        );
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(2),
            "{}: the body has exactly code and message",
            case.name
        );
    }
    assert!(
        server.events(&tenant).await.is_empty(),
        "a refused request stored something"
    );

    // The write key reads nothing.
    let response = http()
        .get(url("/v1/events"))
        .bearer_auth(&tenant.write_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn over_the_rate_limit_answers_429_with_retry_after() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("limited");
    let out = server.cdp(&[
        "tenant",
        "limit",
        &tenant.id,
        "--events-per-second",
        "1",
        "--burst",
        "5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let batch: Vec<Value> = (0..5).map(|i| json!({"type": "track", "userId": "u", "event": "e", "messageId": format!("rl-{i}")})).collect();
    assert_eq!(
        server
            .track(&tenant, "/v1/batch", &json!({"batch": batch}))
            .await
            .0,
        200
    );
    // Another full burst right after: even if a slow machine let a second or two pass, only
    // a token or two came back, so these five cannot pass.
    let again: Vec<Value> = (0..5).map(|i| json!({"type": "track", "userId": "u", "event": "e", "messageId": format!("rl-over-{i}")})).collect();
    let response = http()
        .post(server.url("/v1/batch"))
        .basic_auth(&tenant.write_key, Some(""))
        .json(&json!({"batch": again}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(server.events(&tenant).await.len(), 5);

    // Another tenant is not slowed by this one's limit.
    let other = server.create_tenant("unlimited");
    assert_eq!(
        server
            .track(&other, "/v1/track", &json!({"userId": "u", "event": "e"}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_resent_batch_is_stored_once_even_after_a_restart() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("resend");
    let batch = json!({"batch": [
        {"type": "track", "userId": "u", "event": "A", "messageId": "dup-1"},
        {"type": "track", "userId": "u", "event": "B", "messageId": "dup-2"},
        {"type": "track", "userId": "u", "event": "A again", "messageId": "dup-1"},
    ]});
    for _ in 0..3 {
        assert_eq!(server.track(&tenant, "/v1/batch", &batch).await.0, 200);
    }
    let server = server.kill_and_restart();
    assert_eq!(server.track(&tenant, "/v1/batch", &batch).await.0, 200);
    let events = server.events(&tenant).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dup-1", "dup-2"]);
    assert_eq!(
        events[0]["payload"]["event"], "A",
        "the first copy is the one kept"
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_events() {
    let server = Server::start(&suite_env());
    let a = server.create_tenant("a");
    let b = server.create_tenant("b");
    assert_eq!(
        server
            .track(
                &a,
                "/v1/track",
                &json!({"userId": "u", "event": "secret of a"})
            )
            .await
            .0,
        200
    );
    assert_eq!(server.events(&a).await.len(), 1);
    assert!(server.events(&b).await.is_empty());
    // A body naming another tenant changes nothing: the tenant comes from the key.
    assert_eq!(
        server
            .track(
                &b,
                "/v1/track",
                &json!({"userId": "u", "event": "e", "tenant_id": a.id})
            )
            .await
            .0,
        200
    );
    assert_eq!(server.events(&a).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_event_survives_sigkill() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let mut server = Server::start(&suite_env());
    let tenant: Tenant = server.create_tenant("crash");
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        // Senders run flat out; the server is killed while their requests are in flight.
        let acks = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for sender in 0..4 {
            let url = server.url("/v1/batch");
            let key = tenant.write_key.clone();
            let acks = acks.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in 0.. {
                    let ids: Vec<String> = (0..20).map(|i| format!("r{round}-s{sender}-n{n}-{i}")).collect();
                    let batch: Vec<Value> = ids.iter().map(|id| json!({"type": "track", "userId": format!("user-{sender}"), "event": "Tick", "messageId": id})).collect();
                    match http().post(&url).basic_auth(&key, Some("")).json(&json!({"batch": batch})).send().await {
                        Ok(r) if r.status() == 200 => {
                            acked.extend(ids);
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(r) => panic!("unexpected answer {}", r.status()),
                        // The server is gone: whatever was not answered was not promised.
                        Err(_) => return acked,
                    }
                }
                acked
            }));
        }
        while acks.load(Ordering::Relaxed) < 10 + round * 5 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        server.kill();
        for task in tasks {
            acknowledged.extend(task.await.unwrap());
        }
        server = server.kill_and_restart();
    }
    let events = server.log_events(&tenant).await;
    let stored: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(stored.len(), events.len(), "an event was stored twice");
    assert!(acknowledged.len() >= 3 * 10 * 20);
    for id in &acknowledged {
        assert!(
            stored.contains(id.as_str()),
            "acknowledged event {id} was lost"
        );
    }
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "the log has a gap"
    );
}
