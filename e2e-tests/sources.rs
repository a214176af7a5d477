//! Webhook sources and bulk imports, end to end.

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, http, suite_env, urlencode};

async fn create_source(server: &Server, tenant: &Tenant, body: Value) -> (u16, Value) {
    let response = http()
        .post(server.url("/v1/sources"))
        .bearer_auth(&tenant.api_key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn post_json(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let response = http()
        .post(server.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn payment(id: &str) -> Value {
    json!({"id": id, "type": "payment_intent.succeeded", "created": 1764325200,
           "data": {"object": {"id": "pi_1", "amount": 2599, "currency": "eur", "customer": "cus_42", "status": "succeeded"}}})
}

#[tokio::test]
async fn a_payment_webhook_becomes_an_event_and_a_retry_is_stored_once() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("payments");
    let (status, source) = create_source(
        &server,
        &tenant,
        json!({"name": "payments", "kind": "webhook", "mapping": {"preset": "payment"}}),
    )
    .await;
    assert_eq!(status, 201, "{source}");
    let path = source["webhook_path"].as_str().unwrap().to_owned();
    let write_key = source["write_key"].as_str().unwrap().to_owned();

    for _ in 0..2 {
        assert_eq!(post_json(&server, &path, &payment("evt_1")).await.0, 200);
    }
    // The same source through the header instead of the URL.
    let response = http()
        .post(server.url("/v1/webhooks"))
        .basic_auth(&write_key, Some(""))
        .json(&payment("evt_2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let events = server.events(&tenant).await;
    assert_eq!(events.len(), 2, "a redelivered webhook was stored twice");
    let stored = &events[0]["payload"];
    assert_eq!(stored["type"], "track");
    assert_eq!(stored["event"], "payment_intent.succeeded");
    assert_eq!(stored["userId"], "cus_42");
    assert_eq!(stored["messageId"], "evt_1");
    assert_eq!(stored["originalTimestamp"], "2025-11-28T10:20:00Z");
    assert_eq!(stored["properties"]["amount_minor"], 2599);
    assert_eq!(
        stored["properties"]["payload"],
        payment("evt_1"),
        "the whole payload is kept"
    );
    assert_eq!(events[0]["source_id"], source["id"]);
}

#[tokio::test]
async fn an_order_webhook_maps_with_the_ecommerce_preset_and_custom_mappings_work() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("shop");
    let (_, source) = create_source(
        &server,
        &tenant,
        json!({"name": "shop", "kind": "webhook", "mapping": {"preset": "ecommerce_order"}}),
    )
    .await;
    let order = json!({"id": 820982911, "order_number": 1001, "email": "ann@example.com", "created_at": "2026-11-20T10:00:00-05:00",
        "total_price": "199.00", "currency": "USD", "customer": {"id": 115310627, "email": "ann@example.com", "first_name": "Ann"},
        "line_items": [{"sku": "IPOD2008", "quantity": 1, "price": "199.00"}]});
    assert_eq!(
        post_json(&server, source["webhook_path"].as_str().unwrap(), &order)
            .await
            .0,
        200
    );

    let (status, custom) = create_source(&server, &tenant, json!({"name": "helpdesk", "kind": "webhook",
        "mapping": {"type": "track", "event": "Ticket Opened", "userId": {"path": "requester.id"}, "messageId": {"path": "ticket.id"},
                    "properties": {"fields": {"subject": {"path": "ticket.subject"}}}}})).await;
    assert_eq!(status, 201, "{custom}");
    let ticket = json!([{"requester": {"id": "u-7"}, "ticket": {"id": "t-1", "subject": "Refund"}}, {"requester": {"id": "u-8"}, "ticket": {"id": "t-2", "subject": "Login"}}]);
    let (status, answer) =
        post_json(&server, custom["webhook_path"].as_str().unwrap(), &ticket).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["stored"], 2);

    let events = server.events(&tenant).await;
    assert_eq!(events.len(), 3);
    let stored = &events[0]["payload"];
    assert_eq!(stored["event"], "Order Completed");
    assert_eq!(stored["userId"], "115310627");
    assert_eq!(stored["properties"]["total"], "199.00");
    assert_eq!(stored["context"]["traits"]["email"], "ann@example.com");
    assert_eq!(stored["originalTimestamp"], "2026-11-20T10:00:00-05:00");
    assert_eq!(
        events[2]["payload"]["properties"],
        json!({"subject": "Login"})
    );
}

#[tokio::test]
async fn webhook_sources_refuse_what_they_cannot_map() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("refusals");
    for (bad, needle) in [
        (json!({"name": "w", "kind": "webhook"}), "needs a mapping"),
        (
            json!({"name": "w", "kind": "webhook", "mapping": {"preset": "nope"}}),
            "unknown mapping preset",
        ),
        (
            json!({"name": "w", "kind": "webhook", "mapping": {"type": "track", "evnt": "x"}}),
            "unknown field",
        ),
        (json!({"name": "", "kind": "tracking"}), "name"),
        (
            json!({"name": "t", "kind": "tracking", "mapping": {}}),
            "only webhook sources",
        ),
        (json!({"name": "t", "kind": "ftp"}), "invalid JSON body"),
    ] {
        let (status, body) = create_source(&server, &tenant, bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(needle),
            "{bad}: {body}"
        );
    }
    let (_, source) = create_source(
        &server,
        &tenant,
        json!({"name": "pay", "kind": "webhook", "mapping": {"preset": "payment"}}),
    )
    .await;
    let path = source["webhook_path"].as_str().unwrap();
    // A payment without any customer or e-mail has nobody to attach it to.
    let (status, body) = post_json(
        &server,
        path,
        &json!({"id": "evt_x", "type": "charge.failed", "created": 1, "data": {"object": {}}}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("userId or anonymousId"),
        "{body}"
    );
    // A tracking source's key is not a webhook source.
    let (status, _) = post_json(
        &server,
        &format!("/v1/webhooks/{}", tenant.write_key),
        &payment("evt_3"),
    )
    .await;
    assert_eq!(status, 403);
    // …and a webhook source's key, which sits in third-party URLs, sends no tracking calls.
    let response = http()
        .post(server.url("/v1/track"))
        .basic_auth(source["write_key"].as_str().unwrap(), Some(""))
        .json(&json!({"userId": "u", "event": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        post_json(&server, "/v1/webhooks/cdp_wk_unknown", &payment("evt_4"))
            .await
            .0,
        401
    );
    assert!(server.events(&tenant).await.is_empty());

    // Another tenant's source is not found, like one that does not exist.
    let other = server.create_tenant("other");
    let response = http()
        .get(server.url(&format!("/v1/sources/{}", source["id"].as_str().unwrap())))
        .bearer_auth(&other.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = http()
        .get(server.url(&format!("/v1/sources/{}", source["id"].as_str().unwrap())))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn import(
    server: &Server,
    tenant: &Tenant,
    query: &str,
    body: Vec<u8>,
    gzip: bool,
) -> (u16, Value) {
    let mut request = http()
        .post(server.url(&format!("/v1/imports?{query}")))
        .bearer_auth(&tenant.api_key)
        .body(body);
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn an_ndjson_import_reports_bad_lines_and_stores_nothing_twice() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("import");
    let mut lines: Vec<String> = (0..3000)
        .map(|i| json!({"type": "track", "userId": format!("u{}", i % 50), "event": "Historic Order", "timestamp": "2021-03-04T05:06:07Z", "properties": {"n": i}}).to_string())
        .collect();
    lines.insert(10, "not json".into());
    lines.insert(20, json!({"type": "track", "userId": "u"}).to_string());
    lines.insert(30, String::new());
    let file = lines.join("\n").into_bytes();

    let (status, job) = import(&server, &tenant, "format=ndjson", file.clone(), false).await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["events_stored"], 3000);
    assert_eq!(job["lines_failed"], 2);
    assert_eq!(
        job["errors"],
        json!([
            {"line": 11, "message": "not a JSON object"},
            {"line": 21, "message": "event is required for track: a non-empty string"},
        ])
    );

    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &file).unwrap();
    let (_, again) = import(
        &server,
        &tenant,
        "format=ndjson",
        encoder.finish().unwrap(),
        true,
    )
    .await;
    assert_eq!(again["events_stored"], 0);
    assert_eq!(again["events_duplicate"], 3000);

    let events = server.events(&tenant).await;
    assert_eq!(events.len(), 3000);
    assert_eq!(events[0]["occurred_at"], "2021-03-04T05:06:07Z");

    let id = job["id"].as_str().unwrap();
    let response = http()
        .get(server.url(&format!("/v1/imports/{id}")))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let listed: Value = http()
        .get(server.url("/v1/imports"))
        .bearer_auth(&tenant.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["imports"].as_array().unwrap().len(), 2);
    let other = server.create_tenant("other");
    let response = http()
        .get(server.url(&format!("/v1/imports/{id}")))
        .bearer_auth(&other.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = http()
        .post(server.url("/v1/imports?format=ndjson"))
        .bearer_auth(&tenant.write_key)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a write key cannot run imports");
}

const PROFILES: &str = "id,email,first_name,plan\n1,ann@example.com,Ann,pro\n2,,Bob,free\n,cy@example.com,Cy,pro\n3,dee@example.com,\"Dee, Jr.\",team\n";

#[tokio::test]
async fn a_csv_import_turns_rows_into_identify_events_through_the_api_and_the_cli() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("csv");
    let mapping =
        json!({"user_id": "id", "identifiers": {"email": "email"}, "traits": "*"}).to_string();
    let query = format!("format=csv&mapping={}", urlencode(&mapping));
    let (status, job) = import(
        &server,
        &tenant,
        &query,
        PROFILES.as_bytes().to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["events_stored"], 3);
    assert_eq!(
        job["errors"],
        json!([{"line": 4, "message": "the row has no user id or anonymous id value"}])
    );

    let events = server.events(&tenant).await;
    let ann = &events[0]["payload"];
    assert_eq!(ann["type"], "identify");
    assert_eq!(ann["userId"], "1");
    assert_eq!(
        ann["traits"],
        json!({"email": "ann@example.com", "first_name": "Ann", "plan": "pro"})
    );
    assert_eq!(ann["context"]["externalIds"][0]["type"], "email");
    assert_eq!(events[2]["payload"]["traits"]["first_name"], "Dee, Jr.");

    // The same file through the command line stores nothing new.
    let file = server.dir.join("profiles.csv");
    std::fs::write(&file, PROFILES).unwrap();
    let out = server.cdp(&[
        "import",
        file.to_str().unwrap(),
        "--tenant",
        &tenant.id,
        "--mapping",
        &mapping,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli_job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli_job["events_duplicate"], 3);
    assert_eq!(cli_job["events_stored"], 0);
    assert_eq!(server.events(&tenant).await.len(), 3);

    let (status, body) = import(
        &server,
        &tenant,
        &format!("format=csv&mapping={}", urlencode(r#"{"user_id":"nope"}"#)),
        PROFILES.as_bytes().to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "failed");
    assert!(
        body["failure"]
            .as_str()
            .unwrap()
            .contains("no column \"nope\""),
        "{body}"
    );
    let (status, body) = import(
        &server,
        &tenant,
        "format=csv",
        PROFILES.as_bytes().to_vec(),
        false,
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

/// The live debugger's errors: a refused batch is listed for its source with the reason
/// its sender got, oldest first, readable from `after`, the last 50 kept; another tenant
/// gets 404 for the source.
#[tokio::test]
async fn refused_requests_are_listed_for_their_source_and_no_one_else() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("debugged");
    let other = server.create_tenant("elsewhere");
    let (_, sources) = call(&server, "GET", "/v1/sources", &tenant.api_key, None).await;
    let source = sources["sources"][0]["id"].as_str().unwrap().to_owned();
    let send = |body: Value| {
        let server = &server;
        let tenant = &tenant;
        async move { server.track(tenant, "/v1/batch", &body).await }
    };
    // A track without an event name, then a good batch, then a batch of nothing.
    let (status, told) = send(json!({"batch": [{"type": "track", "userId": "u1"}]})).await;
    assert_eq!(status, 400);
    let good = send(json!({"batch": [{"type": "track", "userId": "u1", "event": "Ok"}]})).await;
    assert_eq!(good.0, 200);
    assert_eq!(send(json!({"nope": 1})).await.0, 400);

    let read = |key: String, after: i64| {
        let path = format!("/v1/sources/{source}/rejections?after={after}");
        let server = &server;
        async move {
            let (status, body) = call(server, "GET", &path, &key, None).await;
            (
                status,
                body["rejections"].as_array().cloned().unwrap_or_default(),
            )
        }
    };
    // Kept in the background: the answer to the sender does not wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let listed = loop {
        let (status, listed) = read(tenant.api_key.clone(), 0).await;
        assert_eq!(status, 200);
        if listed.len() == 2 || std::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["status"], 400);
    assert_eq!(listed[0]["code"], told["code"]);
    assert_eq!(
        listed[0]["message"], told["message"],
        "the reason the sender got"
    );
    let first = listed[0]["id"].as_i64().unwrap();
    assert_eq!(read(tenant.api_key.clone(), first).await.1.len(), 1);
    assert_eq!(
        read(other.api_key.clone(), 0).await.0,
        404,
        "another tenant's source"
    );

    // Only the last 50 are kept (sent slower than the 10 a second kept per source).
    for _ in 0..55 {
        assert_eq!(send(json!({"nope": 1})).await.0, 400);
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let kept = read(tenant.api_key.clone(), 0).await.1;
    assert_eq!(kept.len(), 50, "{kept:?}");
    assert!(
        kept.iter().all(|r| r["id"].as_i64().unwrap() > first),
        "the oldest went first"
    );
}

/// The volume chart's figures: stored events per source and hour, duplicates not counted,
/// another tenant's not shown.
#[tokio::test]
async fn volume_counts_stored_events_per_source_and_hour() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("counted");
    let other = server.create_tenant("uncounted");
    let batch = json!({"batch": [
        {"type": "track", "userId": "u1", "event": "A", "messageId": "v1"},
        {"type": "track", "userId": "u1", "event": "A", "messageId": "v2"},
        {"type": "track", "userId": "u1", "event": "A", "messageId": "v2"},
    ]});
    for _ in 0..2 {
        assert_eq!(server.track(&tenant, "/v1/batch", &batch).await.0, 200);
    }
    let read = |key: String, query: &str| {
        let path = format!("/v1/events/volume{query}");
        let server = &server;
        async move {
            let (status, body) = call(server, "GET", &path, &key, None).await;
            assert_eq!(status, 200, "{body}");
            body["volume"].as_array().unwrap().clone()
        }
    };
    let volume = read(tenant.api_key.clone(), "").await;
    let total: u64 = volume.iter().map(|v| v["events"].as_u64().unwrap()).sum();
    assert_eq!(total, 2, "{volume:?}");
    assert!(volume[0]["source_id"].as_str().unwrap().starts_with("src_"));
    let by_day = read(tenant.api_key.clone(), "?by=day").await;
    assert_eq!(by_day.len(), 1, "{by_day:?}");
    assert_eq!(by_day[0]["events"], 2);
    assert!(
        by_day[0]["start"].as_str().unwrap().ends_with("T00:00:00Z"),
        "{by_day:?}"
    );
    assert!(read(other.api_key.clone(), "").await.is_empty());
    let (status, _) = call(
        &server,
        "GET",
        "/v1/events/volume?since=2000-01-01T00:00:00Z",
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 400);
}
