//! Segments end to end: computed traits and segments defined through the API in text and
//! JSON, backfilled over existing profiles (an event condition through a rebuild), kept
//! up to date as events arrive, every entry in the log, members paged and exported, and
//! bad definitions refused with where the mistake is.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, http, suite_env};
use crate::profiles::{caught_up, send};
use crate::subject_access::export_when_ready;

/// Polls a segment until it is computed everywhere with `size` members.
async fn segment_when(server: &Server, tenant: &Tenant, id: &str, size: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = call(
            server,
            "GET",
            &format!("/v1/segments/{id}"),
            &tenant.api_key,
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if body["status"]["state"] == "ready" && body["size"] == size {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "segment never reached {size}: {body}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn identify(user: u32, plan: &str) -> Value {
    json!({"type": "identify", "userId": format!("u{user}"),
           "traits": {"plan": plan, "email": format!("user{user}@example.com")}})
}

fn order(user: u32, revenue: f64) -> Value {
    json!({"type": "track", "userId": format!("u{user}"), "event": "Order Completed",
           "properties": {"revenue": revenue}})
}

async fn create(server: &Server, tenant: &Tenant, body: Value) -> (u16, Value) {
    call(server, "POST", "/v1/segments", &tenant.api_key, Some(&body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_backfilled_kept_fresh_recorded_and_exported() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("segments");
    let mut batch: Vec<Value> = (1..=6)
        .map(|u| identify(u, if u <= 3 { "pro" } else { "free" }))
        .collect();
    // Users 1 and 4 order twice over 100, user 2 once, user 5 twice but small.
    batch.extend([
        order(1, 150.0),
        order(1, 120.0),
        order(2, 300.0),
        order(4, 101.0),
        order(4, 250.0),
        order(5, 20.0),
        order(5, 30.0),
    ]);
    send(&server, &tenant, batch).await;
    caught_up(&server, &tenant).await;

    // A trait condition, before anything else is defined: backfilled over the profiles
    // that exist, which have no computed row to carry a key (their entries are sealed
    // under their latest event's key).
    let (status, pro) = create(
        &server,
        &tenant,
        json!({"name": "Pro plan", "text": "trait plan = \"pro\""}),
    )
    .await;
    assert_eq!(status, 201, "{pro}");
    assert_eq!(
        pro["condition"],
        json!({"trait": {"name": "plan", "op": "eq", "value": "pro"}})
    );
    let pro_id = pro["segment_id"].as_str().unwrap().to_owned();
    segment_when(&server, &tenant, &pro_id, 3).await;

    let (status, ltv) = call(
        &server,
        "PUT",
        "/v1/computed-traits/ltv",
        &tenant.api_key,
        Some(&json!({"preset": "total_revenue"})),
    )
    .await;
    assert_eq!(status, 201, "{ltv}");

    // An event condition with a filter and a window needs the whole log: a rebuild.
    let (status, buyers) = create(
        &server,
        &tenant,
        json!({
            "name": "Repeat buyers",
            "text": "performed \"Order Completed\" where revenue > 100 >= 2 times within 30 days",
        }),
    )
    .await;
    assert_eq!(status, 201, "{buyers}");
    let buyers_id = buyers["segment_id"].as_str().unwrap().to_owned();
    segment_when(&server, &tenant, &buyers_id, 2).await;

    // Combining segments, a computed trait, JSON form.
    let (status, vip) = create(&server, &tenant, json!({
        "name": "VIP",
        "condition": {"and": [{"in_segment": buyers_id}, {"computed": {"name": "ltv", "op": "gte", "value": 300}}]},
    })).await;
    assert_eq!(status, 201, "{vip}");
    assert_eq!(
        vip["text"],
        format!("in segment \"{buyers_id}\" and computed ltv >= 300")
    );
    let vip_id = vip["segment_id"].as_str().unwrap().to_owned();
    segment_when(&server, &tenant, &vip_id, 1).await;

    // Fresh as events arrive: user 6 becomes pro, user 2 orders again.
    send(&server, &tenant, vec![identify(6, "pro"), order(2, 180.0)]).await;
    segment_when(&server, &tenant, &pro_id, 4).await;
    segment_when(&server, &tenant, &buyers_id, 3).await;
    segment_when(&server, &tenant, &vip_id, 2).await;

    // Every entry is in the log, sealed like any event and naming no person in clear.
    let log = server.log_events(&tenant).await;
    let entries: Vec<&Value> = log
        .iter()
        .filter(|e| e["type"] == "segment.entered")
        .collect();
    let into = |id: &str| {
        entries
            .iter()
            .filter(|e| e["payload"]["segment"] == id)
            .count()
    };
    assert_eq!(
        (into(&pro_id), into(&buyers_id), into(&vip_id)),
        (4, 3, 2),
        "{entries:?}"
    );
    for e in &entries {
        assert!(!e["payload"].to_string().contains("example.com"), "{e}");
        assert!(
            e["payload"]["profile"]
                .as_str()
                .unwrap()
                .starts_with("prof_")
        );
    }

    // A profile's segments and computed traits.
    let (status, mine) = call(
        &server,
        "GET",
        "/v1/profiles/user_id:u1/segments",
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["computed_traits"]["ltv"], json!(270.0));
    let names: Vec<&str> = mine["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Pro plan", "Repeat buyers"], "{mine}");

    // Members: pages with a cursor, and the whole list as NDJSON and CSV.
    let (status, first) = call(
        &server,
        "GET",
        &format!("/v1/segments/{pro_id}/members?limit=3"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["members"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = call(
        &server,
        "GET",
        &format!("/v1/segments/{pro_id}/members?limit=3&cursor={cursor}"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(second["members"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(second["next_cursor"], Value::Null);
    for (format, lines) in [("ndjson", 4), ("csv", 5)] {
        let response = http()
            .get(server.url(&format!("/v1/segments/{pro_id}/members?format={format}")))
            .bearer_auth(&tenant.api_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert_eq!(text.lines().count(), lines, "{text}");
        for user in [1, 2, 3, 6] {
            assert!(text.contains(&format!("user{user}@example.com")), "{text}");
        }
    }

    // A preview before saving: size and sample.
    let (status, preview) = call(
        &server,
        "POST",
        "/v1/segments/preview",
        &tenant.api_key,
        Some(&json!({"text": "trait plan = \"free\" or computed ltv < 100"})),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    // Free: users 4 and 5; spent under 100: users 3, 5 and 6.
    assert_eq!(preview["size"], 4, "{preview}");
    assert_eq!(preview["sample"].as_array().unwrap().len(), 4);
    // Only converted, as an editor switching forms asks: both forms, no one counted.
    let convert = |body: Value| {
        let (server, key) = (&server, &tenant.api_key);
        async move { call(server, "POST", "/v1/segments/preview", key, Some(&body)).await }
    };
    let text = "trait plan = \"free\" or computed ltv < 100";
    let (status, converted) = convert(json!({"text": text, "evaluate": false})).await;
    assert_eq!(status, 200, "{converted}");
    assert!(converted.get("size").is_none(), "{converted}");
    assert_eq!(converted["text"], preview["text"], "{converted}");
    let (status, back) =
        convert(json!({"condition": converted["condition"], "evaluate": false})).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["text"], converted["text"], "{back}");
    let (status, refused) = convert(json!({"text": "trait plan =", "evaluate": false})).await;
    assert_eq!(status, 400, "{refused}");

    // Size over time has the hour's figure.
    let (_, sizes) = call(
        &server,
        "GET",
        &format!("/v1/segments/{pro_id}/sizes"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(
        sizes["sizes"].as_array().unwrap().last().unwrap()["members"],
        4,
        "{sizes}"
    );

    // A person's access export shows their segments and computed traits.
    let (status, request) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "access", "subject": {"type": "user_id", "value": "u4"}})),
    )
    .await;
    assert_eq!(status, 202, "{request}");
    let url = request["export_url"].as_str().unwrap().to_owned();
    let (status, _, export) = export_when_ready(&server, &tenant, &url).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["computed_traits"]["ltv"], json!(351.0), "{export}");
    let theirs: Vec<&str> = export["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(theirs, ["Repeat buyers", "VIP"], "{export}");

    // Erasing a person takes them out of every segment at once.
    let (status, erasure) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "erasure", "subject": {"type": "user_id", "value": "u1"}})),
    )
    .await;
    assert_eq!(status, 202, "{erasure}");
    segment_when(&server, &tenant, &pro_id, 3).await;
    let (_, members) = call(
        &server,
        "GET",
        &format!("/v1/segments/{pro_id}/members"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(members["members"].as_array().unwrap().len(), 3, "{members}");

    // A segment others refer to stays; the one referring goes, then the other can.
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/segments/{buyers_id}"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = call(
        &server,
        "DELETE",
        &format!("/v1/segments/{vip_id}"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/segments/{vip_id}"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Another tenant sees none of it.
    let other = server.create_tenant("segments-other");
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/segments/{pro_id}"),
        &other.api_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, list) = call(&server, "GET", "/v1/segments", &other.api_key, None).await;
    assert_eq!(list["segments"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_definitions_are_refused_with_where_the_mistake_is() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("segments-bad");

    let (status, body) = create(
        &server,
        &tenant,
        json!({"name": "x", "text": "trait plan = \"pro\" and\n  performed \"X\" >= two times"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["position"],
        json!({"line": 2, "column": 20, "offset": 42}),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("whole number of times"),
        "{body}"
    );

    let (status, body) = create(
        &server,
        &tenant,
        json!({"name": "x", "condition": {"or": [
        {"trait": {"name": "plan", "op": "equals", "value": "pro"}},
        {"computed": {"name": "nope", "op": "gt", "value": 1}}]}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["path"], "$.or[0].trait.op", "{body}");

    let (status, body) = create(
        &server,
        &tenant,
        json!({"name": "x", "text": "computed nope > 1"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["path"], "$.computed.name", "{body}");

    let (status, body) = create(
        &server,
        &tenant,
        json!({"name": "x", "text": "in segment \"seg_00000000000000000000000000000000\""}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Cycles: b refers to a; a cannot then refer to b.
    let (_, a) = create(
        &server,
        &tenant,
        json!({"name": "a", "text": "trait plan = \"pro\""}),
    )
    .await;
    let a_id = a["segment_id"].as_str().unwrap();
    let (status, b) = create(
        &server,
        &tenant,
        json!({"name": "b", "text": format!("in segment \"{a_id}\"")}),
    )
    .await;
    assert_eq!(status, 201, "{b}");
    let b_id = b["segment_id"].as_str().unwrap();
    let (status, body) = call(
        &server,
        "PUT",
        &format!("/v1/segments/{a_id}"),
        &tenant.api_key,
        Some(&json!({"name": "a", "text": format!("in segment \"{b_id}\"")})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cycle"),
        "{body}"
    );

    let (status, _) = create(
        &server,
        &tenant,
        json!({"name": "a", "text": "trait plan = \"team\""}),
    )
    .await;
    assert_eq!(status, 409, "a name is taken once");

    let (status, body) = call(
        &server,
        "PUT",
        "/v1/computed-traits/spend",
        &tenant.api_key,
        Some(&json!({"kind": "sum", "event": "Order Completed"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["path"], "$.property", "{body}");
}
