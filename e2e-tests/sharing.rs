//! Sharing with other systems beyond webhooks: the live stream (Server-Sent Events,
//! resumable with `Last-Event-ID`, filtered like a destination) and the NDJSON exports of
//! events and profiles.

use std::time::Duration;

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, http, suite_env};
use crate::profiles::{caught_up, send};

/// One event of a stream: its id, name and data.
#[derive(Debug)]
struct Frame {
    id: i64,
    event: String,
    data: Value,
}

/// Reads frames from an open stream until `count` events with data have come (10 s at most).
async fn frames(response: &mut reqwest::Response, count: usize) -> Vec<Frame> {
    let mut text = String::new();
    let mut found = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while found.len() < count {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events came: {found:?}", found.len()))
            .unwrap()
            .expect("the stream stays open");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::new(), None);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(v).unwrap());
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                found.push(Frame { id, event, data });
            }
        }
    }
    found
}

async fn open(
    server: &Server,
    tenant: &Tenant,
    query: &str,
    last: Option<i64>,
) -> reqwest::Response {
    // No overall timeout, unlike `http()`: a stream stays open.
    cdp_dispatcher::install_tls_provider();
    let mut request = reqwest::Client::new()
        .get(server.url(&format!("/v1/stream{query}")))
        .bearer_auth(&tenant.api_key);
    if let Some(last) = last {
        request = request.header("last-event-id", last.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    response
}

fn track(user: &str, name: &str, total: f64) -> Value {
    json!({"type": "track", "userId": user, "event": name, "properties": {"total": total}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_is_filtered_and_resumes_from_the_last_event_id() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("stream");
    // From now on: opened before anything is sent, it gets what comes after.
    let mut live = open(
        &server,
        &tenant,
        "?include=events&event_types=track&conditions=%5B%7B%22path%22%3A%22properties.total%22%2C%22op%22%3A%22gte%22%2C%22value%22%3A10%7D%5D",
        None,
    )
    .await;
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "identify", "userId": "ann", "traits": {"plan": "pro"}}),
            track("ann", "Order Completed", 5.0),
            track("ann", "Order Completed", 50.0),
            json!({"type": "page", "userId": "ann", "name": "Home"}),
            track("ann", "Refund", 20.0),
        ],
    )
    .await;
    let got = frames(&mut live, 2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|f| f.event == "track"), "{got:?}");
    assert_eq!(got[0].data["payload"]["properties"]["total"], 50.0);
    assert_eq!(got[1].data["payload"]["event"], "Refund");
    assert_eq!(got[0].id, got[0].data["seq"].as_i64().unwrap());
    drop(live);

    // Reconnecting with the last id seen carries on after it, and nothing before.
    let mut resumed = open(
        &server,
        &tenant,
        "?include=events&event_types=track",
        Some(got[0].id),
    )
    .await;
    let again = frames(&mut resumed, 1).await;
    assert_eq!(again[0].id, got[1].id, "{again:?}");
    // The whole log from a position, changes included: a consent record made through the API.
    let (status, _) = call(
        &server,
        "POST",
        "/v1/consent",
        &tenant.api_key,
        Some(&json!({"subject": {"type": "user_id", "value": "ann"}, "purposes": {"marketing": true}})),
    )
    .await;
    assert_eq!(status, 202);
    let mut everything = open(&server, &tenant, "?after=0", None).await;
    let all = frames(&mut everything, 6).await;
    let ids: Vec<i64> = all.iter().map(|f| f.id).collect();
    assert_eq!(ids, (1..=6).collect::<Vec<_>>(), "{all:?}");
    assert_eq!(all[5].event, "consent", "{all:?}");

    // Bad input is refused before the stream opens.
    for (query, last) in [
        ("?conditions=not-json", None),
        ("?include=everything", None),
        ("?after=-1", None),
        ("", Some("yesterday")),
    ] {
        let mut request = http()
            .get(server.url(&format!("/v1/stream{query}")))
            .bearer_auth(&tenant.api_key);
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{query} {last:?}");
    }
    let response = http().get(server.url("/v1/stream")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

pub(crate) async fn ndjson(server: &Server, tenant: &Tenant, path: &str) -> Vec<Value> {
    let response = http()
        .get(server.url(path))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let text = response.text().await.unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_stream_every_event_and_profile_as_ndjson() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("exports");
    // More than a page of each (500), so the export goes on across pages.
    let people = 600;
    for chunk in (0..people).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<Value> = chunk
            .iter()
            .flat_map(|i| {
                let user = format!("u{i}");
                [
                    json!({"type": "identify", "userId": user, "traits": {"email": format!("{user}@example.com")}}),
                    track(&user, "Order Completed", *i as f64),
                ]
            })
            .collect();
        for half in batch.chunks(100) {
            send(&server, &tenant, half.to_vec()).await;
        }
    }
    caught_up(&server, &tenant).await;
    let events = ndjson(&server, &tenant, "/v1/exports/events").await;
    assert_eq!(events.len(), 2 * people, "every event of the log");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=2 * people as i64).collect::<Vec<_>>());
    assert_eq!(events[1]["payload"]["properties"]["total"], 0.0);
    let slice = ndjson(&server, &tenant, "/v1/exports/events?after=10&through=20").await;
    assert_eq!(slice.len(), 10);
    assert_eq!(slice[0]["seq"], 11);

    let profiles = ndjson(&server, &tenant, "/v1/exports/profiles").await;
    assert_eq!(profiles.len(), people, "one line per profile");
    let mut ids: Vec<&str> = profiles
        .iter()
        .map(|p| p["profile_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), people, "no profile twice across pages");
    let u7 = profiles
        .iter()
        .find(|p| p["traits"]["email"]["value"] == "u7@example.com")
        .expect("u7 is exported");
    assert_eq!(u7["event_counts"]["Order Completed"]["count"], 1, "{u7}");

    // Another tenant's export holds none of this.
    let other = server.create_tenant("other");
    assert!(
        ndjson(&server, &other, "/v1/exports/events")
            .await
            .is_empty()
    );
    assert!(
        ndjson(&server, &other, "/v1/exports/profiles")
            .await
            .is_empty()
    );
}
