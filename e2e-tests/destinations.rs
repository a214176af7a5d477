//! Destinations end to end, against a local receiver: events and audience changes reach
//! a webhook signed as Standard Webhooks says and once each; failures are retried with
//! backoff, dead-lettered and replayed; a round failing at once pauses its destination
//! once, briefly; a receiver that hangs or answers 410 is handled;
//! nothing goes out without consent, an erasure cancels what is waiting, and private
//! addresses are refused unless allowed.

use std::time::{Duration, Instant};

use cdp_destinations::{SignedHeaders, SigningSecret, verify};
use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, isolated_env};
use crate::privacy::{erase, request_when};
use crate::profiles::send;
use crate::receiver::{Answer, Received, Receiver};

/// Settings that let a test see retries, dead letters and the breaker within seconds,
/// and reach the receiver on the loopback address.
pub(crate) fn quick(mut env: Vec<(String, String)>) -> Vec<(String, String)> {
    for (k, v) in [
        ("CDP_DESTINATIONS_ALLOWED_NETWORKS", "127.0.0.1"),
        ("CDP_DELIVERY_FIRST_RETRY_MS", "200"),
        ("CDP_DELIVERY_WINDOW_SECONDS", "3"),
        ("CDP_DELIVERY_TIMEOUT_MS", "500"),
        ("CDP_DELIVERY_BREAKER_COOLDOWN_MS", "300"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

async fn create_destination(server: &Server, tenant: &Tenant, body: Value) -> (u16, Value) {
    call(
        server,
        "POST",
        "/v1/destinations",
        &tenant.api_key,
        Some(&body),
    )
    .await
}

pub(crate) async fn created(
    server: &Server,
    tenant: &Tenant,
    body: Value,
) -> (String, SigningSecret) {
    let (status, made) = create_destination(server, tenant, body).await;
    assert_eq!(status, 201, "{made}");
    let secret = SigningSecret::parse(made["signing_secret"].as_str().unwrap()).unwrap();
    (made["id"].as_str().unwrap().to_owned(), secret)
}

pub(crate) async fn deliveries(
    server: &Server,
    tenant: &Tenant,
    id: &str,
    query: &str,
) -> Vec<Value> {
    let (status, page) = call(
        server,
        "GET",
        &format!("/v1/destinations/{id}/deliveries{query}"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["deliveries"].as_array().unwrap().clone()
}

/// Polls the delivery log until `check` holds for it (at most 60 seconds).
async fn deliveries_when(
    server: &Server,
    tenant: &Tenant,
    id: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = deliveries(server, tenant, id, "").await;
        if check(&log) {
            return log;
        }
        if Instant::now() >= deadline {
            // What the destination counted (skipped without consent, its breaker) and how
            // far the projector got tell a delivery never routed from one never sent.
            let shown = destination(server, tenant, id).await;
            let (_, projection) =
                call(server, "GET", "/v1/projection", &tenant.api_key, None).await;
            panic!(
                "the delivery log never got there: {log:?}\ndestination: {shown}\nprojection: {projection}\n{}",
                server.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn destination(server: &Server, tenant: &Tenant, id: &str) -> Value {
    let (status, shown) = call(
        server,
        "GET",
        &format!("/v1/destinations/{id}"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    shown
}

fn headers(r: &Received) -> SignedHeaders {
    SignedHeaders {
        id: r.header("webhook-id").to_owned(),
        timestamp: r.header("webhook-timestamp").parse().unwrap(),
        signature: r.header("webhook-signature").to_owned(),
    }
}

/// Verified the way the specification tells a receiver to: id, timestamp and body under
/// the secret, the timestamp within five minutes of now.
fn signed_by(r: &Received, secret: &SigningSecret) -> bool {
    verify(
        secret,
        &headers(r),
        &r.body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .is_ok()
}

fn identify(user: &str, plan: &str, marketing: Option<bool>) -> Value {
    let mut event = json!({"type": "identify", "userId": user,
                           "traits": {"plan": plan, "email": format!("{user}@example.com")}});
    if let Some(granted) = marketing {
        event["context"] = json!({"consent": {"categoryPreferences": {"Marketing": granted}}});
    }
    event
}

fn order(user: &str, name: &str, total: f64) -> Value {
    json!({"type": "track", "userId": user, "event": name,
           "properties": {"total": total}, "context": {"ip": "203.0.113.9"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_receives_events_and_audience_changes_signed_and_once_each() {
    let receiver = Receiver::start().await;
    let mut env = quick(isolated_env().await);
    env.push(("CDP_METRICS_TOKEN".into(), "metrics-token".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("destinations");
    let (status, segment) = call(
        &server,
        "POST",
        "/v1/segments",
        &tenant.api_key,
        Some(&json!({"name": "Pro plan", "text": "trait plan = \"pro\""})),
    )
    .await;
    assert_eq!(status, 201, "{segment}");
    let segment_id = segment["segment_id"].as_str().unwrap().to_owned();
    let (id, secret) = created(
        &server,
        &tenant,
        json!({
            "name": "CRM",
            "url": receiver.url("/hook"),
            "purpose": "Marketing",
            "receives": {"events": true, "segments": [segment_id]},
            "filter": {"event_types": ["track"]},
            "mapping": {"rename": [{"from": "event.properties.total", "to": "amount"}],
                        "drop": ["event.context"]},
        }),
    )
    .await;

    send(
        &server,
        &tenant,
        vec![
            identify("ann", "pro", Some(true)),
            order("ann", "Order Completed", 50.0),
            order("ann", "Order Completed", 70.0),
            identify("bob", "free", None),
            order("bob", "Order Completed", 20.0),
        ],
    )
    .await;
    // Ann's two orders and her entry into the segment; nothing of Bob's (no consent).
    let got = receiver.wait_for("/hook", 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = {
        let again = receiver.received("/hook");
        assert_eq!(
            again.len(),
            3,
            "no duplicates in the normal path: {again:?}"
        );
        got
    };
    let mut ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one webhook-id per delivery");
    assert!(
        got.iter().all(|r| signed_by(r, &secret)),
        "every delivery verifies"
    );
    assert!(!signed_by(&got[0], &SigningSecret::generate()));
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    let orders: Vec<&Value> = bodies.iter().filter(|b| b["type"] == "event").collect();
    assert_eq!(orders.len(), 2, "{bodies:?}");
    // A profile's deliveries go in the order of the log.
    assert!(orders[0]["seq"].as_i64() < orders[1]["seq"].as_i64());
    assert_eq!(orders[0]["amount"], 50.0, "renamed: {}", orders[0]);
    assert_eq!(orders[1]["amount"], 70.0);
    assert!(
        orders[0]["event"].get("context").is_none(),
        "dropped: {}",
        orders[0]
    );
    assert_eq!(orders[0]["event"]["event"], "Order Completed");
    let entered = bodies
        .iter()
        .find(|b| b["type"] == "segment.entered")
        .unwrap_or_else(|| panic!("{bodies:?}"));
    assert_eq!(entered["segment"]["id"], segment_id);
    assert_eq!(entered["segment"]["name"], "Pro plan");
    assert_eq!(entered["profile_id"], orders[0]["profile_id"]);
    assert!(
        entered["identities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["type"] == "user_id" && i["value"] == "ann"),
        "{entered}"
    );

    // Every delivery's fate, through the API.
    let log = deliveries(&server, &tenant, &id, "").await;
    assert_eq!(log.len(), 3, "{log:?}");
    for d in &log {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1, "{d}");
        assert_eq!(d["last_status"], 200, "{d}");
        assert!(d["latency_ms"].is_number(), "{d}");
    }
    let shown = destination(&server, &tenant, &id).await;
    assert_eq!(shown["deliveries"]["delivered"], 3, "{shown}");
    assert_eq!(shown["skipped_without_consent"], 1, "{shown}");
    assert_eq!(shown["purpose"], "marketing");
    assert!(
        shown.get("signing_secret").is_none(),
        "the secret is shown once"
    );
    let metrics = server.metrics("metrics-token").await;
    assert!(
        metrics.contains("cdp_deliveries_total{outcome=\"delivered\"} 3\n"),
        "{metrics}"
    );

    // Rotation: the new secret signs at once, the old one beside it for a while.
    let (status, rotated) = call(
        &server,
        "POST",
        &format!("/v1/destinations/{id}/secret"),
        &tenant.api_key,
        Some(&json!({"keep_old_seconds": 600})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = SigningSecret::parse(rotated["signing_secret"].as_str().unwrap()).unwrap();
    send(&server, &tenant, vec![order("ann", "Order Completed", 5.0)]).await;
    let got = receiver.wait_for("/hook", 4).await;
    let last = &got[3];
    assert!(
        signed_by(last, &new_secret) && signed_by(last, &secret),
        "{:?}",
        last.headers
    );

    // Turned off, it receives nothing of what happens meanwhile; turned on, what follows.
    let definition = |enabled: bool| {
        json!({"name": "CRM", "url": receiver.url("/hook"), "purpose": "marketing",
               "enabled": enabled, "filter": {"event_types": ["track"]}})
    };
    let path = format!("/v1/destinations/{id}");
    let (status, off) = call(
        &server,
        "PUT",
        &path,
        &tenant.api_key,
        Some(&definition(false)),
    )
    .await;
    assert_eq!((status, &off["enabled"]), (200, &json!(false)), "{off}");
    send(&server, &tenant, vec![order("ann", "While off", 1.0)]).await;
    crate::profiles::caught_up(&server, &tenant).await;
    // The router looks every 250 ms; this gives it several looks at the stretch.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, _) = call(
        &server,
        "PUT",
        &path,
        &tenant.api_key,
        Some(&definition(true)),
    )
    .await;
    assert_eq!(status, 200);
    send(&server, &tenant, vec![order("ann", "While on", 1.0)]).await;
    let got = receiver.wait_for("/hook", 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let names: Vec<Value> = receiver.received("/hook")[4..]
        .iter()
        .map(|r| r.json()["event"]["event"].clone())
        .collect();
    assert_eq!(names, [json!("While on")], "{got:?}");

    // Another tenant's credentials find nothing.
    let other = server.create_tenant("someone else");
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/destinations/{id}/deliveries"),
        &other.api_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_backoff_dead_lettered_and_replayed() {
    let receiver = Receiver::start().await;
    let server = Server::start(&quick(isolated_env().await));
    let tenant = server.create_tenant("retries");
    let mut made = Vec::new();
    for path in ["/flaky", "/down", "/hang", "/gone"] {
        let (id, _) = created(
            &server,
            &tenant,
            json!({"name": path, "url": receiver.url(path), "purpose": "marketing",
                   "filter": {"event_names": [path]}}),
        )
        .await;
        made.push(id);
    }
    let [flaky, down, hang, gone] = <[String; 4]>::try_from(made).unwrap();
    receiver.answer("/flaky", Answer::Fail);
    receiver.answer("/down", Answer::Fail);
    receiver.answer("/hang", Answer::Hang);
    receiver.answer("/gone", Answer::Gone);
    let mut batch = vec![identify("ann", "pro", Some(true))];
    for path in ["/flaky", "/down", "/hang", "/gone"] {
        batch.push(order("ann", path, 1.0));
    }
    send(&server, &tenant, batch).await;

    // 500 twice, then 200: three attempts of one delivery, the waits between them growing.
    let failed = receiver.wait_for("/flaky", 2).await;
    receiver.answer("/flaky", Answer::Ok);
    let attempts = receiver.wait_for("/flaky", 3).await;
    assert!(
        attempts
            .iter()
            .all(|a| a.header("webhook-id") == failed[0].header("webhook-id")),
        "every attempt of a delivery has its id"
    );
    let first_wait = attempts[1].at - attempts[0].at;
    let second_wait = attempts[2].at - attempts[1].at;
    // The first retry waits at least half of 200 ms, the second at least half of 400 ms.
    assert!(first_wait >= Duration::from_millis(100), "{first_wait:?}");
    assert!(second_wait >= Duration::from_millis(200), "{second_wait:?}");
    let log = deliveries_when(&server, &tenant, &flaky, |log| {
        log.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;
    assert_eq!(log[0]["attempts"], 3, "{log:?}");

    // Always 500: dead once the window (3 s here) is over, then replayed.
    let dead = deliveries_when(&server, &tenant, &down, |log| {
        log.first().is_some_and(|d| d["status"] == "dead")
    })
    .await;
    assert_eq!(
        dead[0]["last_error"], "the receiver answered 500",
        "{dead:?}"
    );
    assert!(dead[0]["attempts"].as_u64() >= Some(2), "{dead:?}");
    let listed = deliveries(&server, &tenant, &down, "?status=dead").await;
    assert_eq!(listed.len(), 1, "the dead-letter list: {listed:?}");
    let tried = receiver.received("/down").len();
    receiver.answer("/down", Answer::Ok);
    let (status, replayed) = call(
        &server,
        "POST",
        &format!("/v1/destinations/{down}/replay"),
        &tenant.api_key,
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["replayed"], 1);
    let after = receiver.wait_for("/down", tried + 1).await;
    assert_eq!(
        after[tried].header("webhook-id"),
        after[0].header("webhook-id"),
        "a replay keeps the delivery's id, so a receiver that saw it can drop it"
    );
    deliveries_when(&server, &tenant, &down, |log| {
        log.first().is_some_and(|d| d["status"] == "delivered")
    })
    .await;

    // A receiver that never answers: the attempt times out and says so.
    let log = deliveries_when(&server, &tenant, &hang, |log| {
        log.first()
            .is_some_and(|d| d["attempts"].as_u64() >= Some(1))
    })
    .await;
    assert!(
        log[0]["last_error"].as_str().unwrap().contains("timed out"),
        "{log:?}"
    );

    // 410 Gone: dead at once, and the destination turned off until turned on again.
    let log = deliveries_when(&server, &tenant, &gone, |log| {
        log.first().is_some_and(|d| d["status"] == "dead")
    })
    .await;
    assert_eq!(log[0]["attempts"], 1, "{log:?}");
    let shown = destination(&server, &tenant, &gone).await;
    assert_eq!(shown["enabled"], false, "{shown}");
    assert!(
        shown["disabled_reason"].as_str().unwrap().contains("410"),
        "{shown}"
    );
    assert_eq!(receiver.received("/gone").len(), 1, "not tried again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_and_an_erasure_cancels_what_waits() {
    let receiver = Receiver::start().await;
    let env = isolated_env().await;
    let server = Server::start(&env);
    let tenant = server.create_tenant("guarded");
    let base = json!({"name": "x", "purpose": "marketing"});
    for url in [
        receiver.url("/hook"),
        "http://localhost:9/hook".to_owned(),
        "http://10.1.2.3/hook".to_owned(),
        "http://[::1]/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
    ] {
        let mut body = base.clone();
        body["url"] = json!(url);
        let (status, refused) = create_destination(&server, &tenant, body).await;
        assert_eq!(status, 400, "{url}: {refused}");
        assert!(
            refused.to_string().contains("not a public address"),
            "{url}: {refused}"
        );
    }
    for (body, problem) in [
        (
            json!({"name": "x", "purpose": "marketing", "url": "ftp://example.com/"}),
            "scheme",
        ),
        (
            json!({"name": "x", "purpose": "marketing", "url": "https://u:p@example.com/"}),
            "credentials",
        ),
        (
            json!({"name": "x", "purpose": "no spaces", "url": "https://example.com/"}),
            "purpose",
        ),
        (
            json!({"name": "x", "purpose": "m", "url": "https://example.com/",
                "receives": {"events": false}}),
            "receives",
        ),
        (
            json!({"name": "x", "purpose": "m", "url": "https://example.com/",
                "filter": {"conditions": [{"path": "a..b", "op": "exists"}]}}),
            "filter.conditions[0].path",
        ),
        (
            json!({"name": "x", "purpose": "m", "url": "https://example.com/", "bogus": 1}),
            "bogus",
        ),
    ] {
        let (status, refused) = create_destination(&server, &tenant, body).await;
        assert_eq!(status, 400, "{refused}");
        assert!(
            refused.to_string().contains(problem),
            "{problem}: {refused}"
        );
    }

    // Allowed by the installation: the same URL is accepted. (A long retry window: the
    // delivery must still be waiting when the erasure comes.)
    let mut allowed = quick(env.clone());
    allowed.push(("CDP_DELIVERY_WINDOW_SECONDS".into(), "600".into()));
    let server = server.kill_and_restart_with(&allowed);
    let (id, _) = created(
        &server,
        &tenant,
        json!({"name": "CRM", "url": receiver.url("/erase"), "purpose": "marketing",
               "filter": {"event_types": ["track"]}}),
    )
    .await;
    receiver.answer("/erase", Answer::Fail);
    send(
        &server,
        &tenant,
        vec![
            identify("cat", "pro", Some(true)),
            order("cat", "Order Completed", 10.0),
        ],
    )
    .await;
    let waiting = deliveries_when(&server, &tenant, &id, |log| {
        log.len() == 1 && log[0]["attempts"].as_u64() >= Some(1)
    })
    .await;
    assert!(
        waiting.iter().all(|d| d["status"] == "pending"),
        "{waiting:?}"
    );
    let request = erase(&server, &tenant, json!({"type": "user_id", "value": "cat"})).await;
    request_when(
        &server,
        &tenant,
        request["id"].as_str().unwrap(),
        "completed",
    )
    .await;
    let cancelled = deliveries_when(&server, &tenant, &id, |log| {
        log.iter().all(|d| d["status"] == "cancelled")
    })
    .await;
    assert!(
        cancelled
            .iter()
            .all(|d| d["last_error"] == "the person was erased"),
        "{cancelled:?}"
    );
    receiver.answer("/erase", Answer::Ok);
    let tried = receiver.received("/erase").len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        receiver.received("/erase").len(),
        tried,
        "nothing sent after the erasure"
    );

    // The allow-list taken away again: what is sent from now on is refused when sent.
    let server = server.kill_and_restart_with(&env);
    send(
        &server,
        &tenant,
        vec![
            identify("dan", "pro", Some(true)),
            order("dan", "Order Completed", 10.0),
        ],
    )
    .await;
    let log = deliveries_when(&server, &tenant, &id, |log| {
        log.iter().any(|d| {
            d["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("not a public address"))
        })
    })
    .await;
    assert!(log.iter().all(|d| d["status"] != "delivered"), "{log:?}");
    assert_eq!(
        receiver.received("/erase").len(),
        tried,
        "refused before connecting"
    );
}

/// A test delivery reaches the receiver at once, signed with the destination's secret and
/// marked `test`, and leaves the delivery log empty; a failing receiver's answer is told
/// back; another tenant cannot send one to this destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_delivery_says_how_the_receiver_answered_and_logs_nothing() {
    let receiver = Receiver::start().await;
    let server = Server::start(&quick(isolated_env().await));
    let tenant = server.create_tenant("tests");
    let other = server.create_tenant("others");
    let (id, secret) = created(
        &server,
        &tenant,
        json!({"name": "hook", "url": receiver.url("/hook"), "purpose": "marketing"}),
    )
    .await;
    let test_path = format!("/v1/destinations/{id}/test");

    let (status, answer) = call(&server, "POST", &test_path, &tenant.api_key, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivered"], true, "{answer}");
    assert_eq!(answer["status"], 200, "{answer}");
    assert!(answer["error"].is_null(), "{answer}");
    let got = receiver.wait_for("/hook", 1).await;
    assert!(signed_by(&got[0], &secret), "the test delivery is signed");
    assert_eq!(got[0].json()["type"], "test");
    assert_eq!(got[0].header("webhook-id"), answer["webhook_id"]);
    assert!(got[0].header("webhook-id").starts_with("msg_test_"));
    assert!(deliveries(&server, &tenant, &id, "").await.is_empty());

    receiver.answer("/hook", Answer::Fail);
    let (status, answer) = call(&server, "POST", &test_path, &tenant.api_key, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivered"], false, "{answer}");
    assert_eq!(answer["status"], 500, "{answer}");
    assert_eq!(answer["error"], "the receiver answered 500", "{answer}");
    let shown = destination(&server, &tenant, &id).await;
    assert_eq!(shown["breaker"]["consecutive_failures"], 0, "{shown}");
    assert_eq!(shown["breaker"]["state"], "closed", "{shown}");

    let (status, answer) = call(&server, "POST", &test_path, &other.api_key, None).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(
        receiver.received("/hook").len(),
        2,
        "only the owner's tests arrive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_that_fails_at_once_pauses_the_destination_once_and_briefly() {
    // Twenty people's first deliveries are sent together and all fail: the breaker opens
    // once, for its first pause (300 ms here), not once per failure up to its longest
    // (an hour), and everything arrives once the receiver is back.
    let receiver = Receiver::start().await;
    receiver.answer("/blip", Answer::Fail);
    let mut env = quick(isolated_env().await);
    env.push(("CDP_DELIVERY_WINDOW_SECONDS".into(), "120".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("blip");
    let (id, _) = created(
        &server,
        &tenant,
        json!({"name": "blip", "url": receiver.url("/blip"), "purpose": "marketing"}),
    )
    .await;
    let people: Vec<String> = (0..20).map(|n| format!("p{n}")).collect();
    let mut batch: Vec<Value> = people
        .iter()
        .map(|p| identify(p, "pro", Some(true)))
        .collect();
    batch.extend(people.iter().map(|p| order(p, "Order Completed", 1.0)));
    send(&server, &tenant, batch).await;
    receiver.wait_for("/blip", 20).await;
    // The round's outcomes are recorded (the breaker opened) before the receiver is back.
    let failed = deliveries_when(&server, &tenant, &id, |log| {
        log.iter().filter(|d| d["attempts"] == 1).count() >= 20
    })
    .await;
    receiver.answer("/blip", Answer::Ok);
    // Within the minute `deliveries_when` allows; an hour's pause would never get there.
    let log = deliveries_when(&server, &tenant, &id, |log| {
        log.iter().filter(|d| d["status"] == "delivered").count() == 40
    })
    .await;
    assert_eq!(log.len(), 40, "{log:?}");
    for first in &failed {
        if first["attempts"] == 1 {
            let after = log.iter().find(|d| d["seq"] == first["seq"]).unwrap();
            assert!(after["attempts"].as_u64() >= Some(2), "{after}");
        }
    }
    let shown = destination(&server, &tenant, &id).await;
    assert_eq!(shown["breaker"]["state"], "closed", "{shown}");
}
