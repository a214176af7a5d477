//! Profiles end to end: events sent through the tracking API become unified profiles in
//! the profile API; rule changes rebuild them; a projector killed mid-batch counts nothing
//! twice.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::access::{call, platform_admin};
use crate::helpers::{Server, Tenant, http, isolated_env, suite_env};

/// Polls a profile until `ready` holds, for at most 30 seconds.
pub(crate) async fn profile_when(
    server: &Server,
    tenant: &Tenant,
    key: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = call(
            server,
            "GET",
            &format!("/v1/profiles/{key}"),
            &tenant.api_key,
            None,
        )
        .await;
        if status == 200 && ready(&body) {
            return body;
        }
        assert!(
            status == 200 || status == 404,
            "GET /v1/profiles/{key}: {status} {body}"
        );
        assert!(
            Instant::now() < deadline,
            "{key} never became ready: {status} {body}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the tenant's profiles have caught up with its log (and no rebuild is left).
pub(crate) async fn caught_up(server: &Server, tenant: &Tenant) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, projection) =
            call(server, "GET", "/v1/projection", &tenant.api_key, None).await;
        assert_eq!(status, 200, "{projection}");
        if projection["lag"] == 0
            && projection["rebuilding"] == false
            && projection["log_head"].as_i64() > Some(0)
        {
            return projection;
        }
        assert!(
            Instant::now() < deadline,
            "never caught up: {projection}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn send(server: &Server, tenant: &Tenant, batch: Vec<Value>) {
    let (status, answer) = server
        .track(tenant, "/v1/batch", &json!({ "batch": batch }))
        .await;
    assert_eq!(status, 200, "{answer}");
}

async fn search(server: &Server, tenant: &Tenant, body: Value) -> (u16, Value) {
    call(
        server,
        "POST",
        "/v1/profiles/search",
        &tenant.api_key,
        Some(&body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_events_show_up_in_the_profile_api() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("profiles");
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "page", "anonymousId": "a-1", "name": "Home"}),
            json!({"type": "track", "anonymousId": "a-1", "event": "Product Viewed", "properties": {"sku": "B-1"}}),
            json!({"type": "track", "anonymousId": "a-1", "event": "Product Viewed", "properties": {"sku": "B-2"}}),
            json!({"type": "identify", "userId": "42", "anonymousId": "a-1",
                   "traits": {"email": "Ann@Example.com", "plan": "free"}}),
            json!({"type": "track", "userId": "42", "event": "Order Completed", "properties": {"total": 99.5}}),
            json!({"type": "identify", "userId": "42", "traits": {"plan": "pro"}}),
            json!({"type": "group", "userId": "42", "groupId": "acme", "traits": {"seats": 12}}),
            json!({"type": "identify", "userId": "77", "traits": {"email": "bob@example.org", "plan": "free"}}),
        ],
    )
    .await;

    let profile = profile_when(&server, &tenant, "user_id:42", |p| {
        !p["groups"].as_array().unwrap().is_empty()
    })
    .await;
    let id = profile["profile_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("prof_"), "{profile}");
    assert_eq!(profile["traits"]["plan"]["value"], "pro", "{profile}");
    assert_eq!(profile["traits"]["email"]["value"], "Ann@Example.com");
    assert!(
        profile["traits"]["plan"]["source"]
            .as_str()
            .unwrap()
            .starts_with("src_")
    );
    assert_eq!(
        profile["event_counts"]["Product Viewed"]["count"], 2,
        "{profile}"
    );
    assert_eq!(profile["event_counts"]["Page Viewed"]["count"], 1);
    assert_eq!(profile["event_counts"]["Order Completed"]["count"], 1);
    assert_eq!(profile["groups"][0]["group_id"], "acme");
    assert_eq!(profile["groups"][0]["traits"]["seats"], 12);
    let kinds: Vec<(&str, &str)> = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["type"].as_str().unwrap(), i["value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("anonymous_id", "a-1"),
            ("email", "ann@example.com"),
            ("user_id", "42")
        ]
    );

    // Any identity leads to the same profile, whatever the case of an e-mail address.
    for key in [
        "anonymous_id:a-1",
        "email:ann@example.com",
        "email:ANN@example.com",
        &id,
    ] {
        let (status, other) = call(
            &server,
            "GET",
            &format!("/v1/profiles/{key}"),
            &tenant.api_key,
            None,
        )
        .await;
        assert_eq!(status, 200, "{key}: {other}");
        assert_eq!(other["profile_id"], id.as_str(), "{key}");
    }
    let (status, identities) = call(
        &server,
        "GET",
        &format!("/v1/profiles/{id}/identities"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(identities["identities"].as_array().unwrap().len(), 3);

    // The timeline: decrypted, newest first, in pages.
    let events_path = format!("/v1/profiles/{id}/events");
    let (status, page) = call(
        &server,
        "GET",
        &format!("{events_path}?limit=4"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["type"], "group");
    assert_eq!(events[2]["payload"]["properties"]["total"], 99.5, "{page}");
    assert_eq!(events[2]["name"], "Order Completed");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    let before = page["next_before"].as_i64().unwrap();
    let (_, rest) = call(
        &server,
        "GET",
        &format!("{events_path}?limit=4&before={before}"),
        &tenant.api_key,
        None,
    )
    .await;
    let rest = rest["events"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 3, "seven events are this person's");
    assert_eq!(rest[2]["type"], "page");
    let (_, viewed) = call(
        &server,
        "GET",
        &format!("{events_path}?type=track&name=Product%20Viewed"),
        &tenant.api_key,
        None,
    )
    .await;
    let skus: Vec<&str> = viewed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["properties"]["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, vec!["B-2", "B-1"]);
    assert!(viewed["next_before"].is_null());
    let (_, none) = call(
        &server,
        "GET",
        &format!("{events_path}?until=2000-01-01T00:00:00Z"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(none["events"], json!([]));

    // Search by traits, with a cursor.
    let (status, found) = search(
        &server,
        &tenant,
        json!({"conditions": [{"trait": "plan", "op": "equals", "value": "pro"}]}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["profiles"].as_array().unwrap().len(), 1);
    assert_eq!(found["profiles"][0]["profile_id"], id.as_str());
    let (_, found) = search(
        &server,
        &tenant,
        json!({"conditions": [{"trait": "email", "op": "contains", "value": "EXAMPLE"}]}),
    )
    .await;
    assert_eq!(found["profiles"].as_array().unwrap().len(), 2);
    let (_, found) = search(&server, &tenant, json!({"conditions": [{"trait": "email", "op": "starts_with", "value": "bob@"}, {"trait": "plan", "op": "not_equals", "value": "pro"}]})).await;
    assert_eq!(found["profiles"].as_array().unwrap().len(), 1);
    let (_, first) = search(&server, &tenant, json!({"limit": 1})).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = search(&server, &tenant, json!({"limit": 1, "cursor": cursor})).await;
    assert_eq!(second["profiles"].as_array().unwrap().len(), 1);
    assert_ne!(
        second["profiles"][0]["profile_id"],
        first["profiles"][0]["profile_id"]
    );
    let (_, third) = search(
        &server,
        &tenant,
        json!({"limit": 1, "cursor": second["next_cursor"]}),
    )
    .await;
    assert_eq!(third["profiles"], json!([]));

    // Bad input gets a clear answer.
    for (path, expected) in [
        ("/v1/profiles/bogus", 400),
        ("/v1/profiles/shoe_size:9", 400),
        ("/v1/profiles/user_id:nobody", 404),
        ("/v1/profiles/prof_0190000000007000800000000000dead", 404),
    ] {
        let (status, answer) = call(&server, "GET", path, &tenant.api_key, None).await;
        assert_eq!(status, expected, "{path}: {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    for query in ["limit=0", "limit=5000", "before=0", "since=yesterday"] {
        let (status, _) = call(
            &server,
            "GET",
            &format!("{events_path}?{query}"),
            &tenant.api_key,
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}");
    }
    for body in [
        json!({"conditions": [{"trait": "plan", "op": "like", "value": "x"}]}),
        json!({"conditions": [{"trait": "plan", "op": "equals"}]}),
        json!({"conditions": [{"trait": "plan", "op": "contains", "value": 5}]}),
        json!({"cursor": "not-a-cursor"}),
        json!({"limit": 0}),
    ] {
        let (status, answer) = search(&server, &tenant, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
    }

    // Another workspace sees none of it.
    let other = server.create_tenant("elsewhere");
    for key in ["user_id:42", &id] {
        let (status, _) = call(
            &server,
            "GET",
            &format!("/v1/profiles/{key}"),
            &other.api_key,
            None,
        )
        .await;
        assert_eq!(status, 404, "{key}");
    }
    let (_, found) = search(&server, &other, json!({})).await;
    assert_eq!(found["profiles"], json!([]));

    let projection = caught_up(&server, &tenant).await;
    assert_eq!(
        projection["generations"][0]["events_applied"], 8,
        "{projection}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stricter_identity_rules_split_profiles_after_the_rebuild() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("household");
    // A household sharing one address, under rules that let e-mail join known users.
    let loose = json!({"merge": ["user_id", "email", "anonymous_id"], "limits": {}});
    let (status, answer) = call(
        &server,
        "PUT",
        "/v1/identity-rules",
        &tenant.api_key,
        Some(&loose),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "identify", "userId": "ann", "traits": {"email": "home@example.com"}}),
            json!({"type": "identify", "userId": "bob", "traits": {"email": "home@example.com"}}),
            json!({"type": "track", "userId": "bob", "event": "Ordered"}),
        ],
    )
    .await;
    caught_up(&server, &tenant).await;
    let ann = profile_when(&server, &tenant, "user_id:ann", |_| true).await;
    let bob = profile_when(&server, &tenant, "user_id:bob", |_| true).await;
    assert_eq!(
        ann["profile_id"], bob["profile_id"],
        "merged under the loose rules"
    );

    for bad in [
        json!({"merge": ["shoe_size"]}),
        json!({"limits": {"user_id": 0}}),
        json!({"merge": ["user_id"], "surprise": true}),
        json!(["not", "rules"]),
    ] {
        let (status, answer) = call(
            &server,
            "PUT",
            "/v1/identity-rules",
            &tenant.api_key,
            Some(&bad),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("identity rules"),
            "{answer}"
        );
    }

    let strict = json!({"merge": ["user_id", "email", "anonymous_id"], "limits": {"user_id": 1}});
    let (status, answer) = call(
        &server,
        "PUT",
        "/v1/identity-rules",
        &tenant.api_key,
        Some(&strict),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    caught_up(&server, &tenant).await;
    let ann = profile_when(&server, &tenant, "user_id:ann", |_| true).await;
    let bob = profile_when(&server, &tenant, "user_id:bob", |_| true).await;
    assert_ne!(ann["profile_id"], bob["profile_id"], "split by the rebuild");
    assert_eq!(bob["event_counts"]["Ordered"]["count"], 1);
    assert!(ann["event_counts"].get("Ordered").is_none());
    let (_, rules) = call(&server, "GET", "/v1/identity-rules", &tenant.api_key, None).await;
    assert_eq!(
        rules["in_effect"]["limits"],
        json!({"user_id": 1}),
        "{rules}"
    );
    assert_eq!(rules["rebuilding"], false);

    // The command line rebuilds too, while the server keeps serving.
    let out = server.cdp(&["rebuild", "--tenant", &tenant.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt: Value = serde_json::from_slice(&out.stdout).unwrap();
    let projection = caught_up(&server, &tenant).await;
    assert_eq!(
        projection["generations"][0]["generation"], rebuilt["generation"],
        "{projection}"
    );
    let again = profile_when(&server, &tenant, "user_id:bob", |_| true).await;
    assert_eq!(
        again["profile_id"], bob["profile_id"],
        "replay names profiles alike"
    );

    // Platform admins see every projection, and rebuild or resume one.
    let admin = platform_admin(&server).await;
    let (status, all) = call(&server, "GET", "/v1/admin/projections", &admin, None).await;
    assert_eq!(status, 200);
    assert!(
        all["projections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["tenant_id"] == tenant.id.as_str())
    );
    for action in ["rebuild", "resume"] {
        let path = format!("/v1/admin/tenants/{}/projection/{action}", tenant.id);
        let (status, answer) = call(&server, "POST", &path, &admin, None).await;
        assert_eq!(status, 202, "{action}: {answer}");
    }
    caught_up(&server, &tenant).await;
    let (status, _) = call(
        &server,
        "POST",
        "/v1/admin/tenants/ten_0190000000007000800000000000dead/projection/rebuild",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// The projector is killed while it works through a backlog; after the restart every
/// person's counts are exact: no batch was applied twice or skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projector_killed_mid_batch_counts_nothing_twice() {
    const PEOPLE: usize = 30;
    const ANONYMOUS: usize = 20;
    const KNOWN: usize = 90;
    // Its own database: no projector of another test may work this tenant meanwhile.
    let mut idle = isolated_env().await;
    let mut working = idle.clone();
    working.push(("CDP_PROJECTOR_BATCH_SIZE".into(), "50".into()));
    idle.push(("CDP_PROJECTOR_WORKERS".into(), "0".into()));
    let server = Server::start(&idle);
    let tenant = server.create_tenant("backlog");
    // Each person browses anonymously, signs in on another device, then links the two:
    // one merge per person, in the middle of the backlog.
    let mut events = Vec::new();
    for person in 0..PEOPLE {
        for _ in 0..ANONYMOUS {
            events.push(
                json!({"type": "track", "anonymousId": format!("anon-{person}"), "event": "Tick"}),
            );
        }
        for _ in 0..KNOWN {
            events.push(
                json!({"type": "track", "userId": format!("user-{person}"), "event": "Tick"}),
            );
        }
        events.push(json!({"type": "identify", "userId": format!("user-{person}"), "anonymousId": format!("anon-{person}")}));
        for _ in 0..KNOWN {
            events.push(
                json!({"type": "track", "userId": format!("user-{person}"), "event": "Tick"}),
            );
        }
    }
    let total = events.len() as i64;
    for chunk in events.chunks(500) {
        send(&server, &tenant, chunk.to_vec()).await;
    }

    let server = server.kill_and_restart_with(&working);
    // Kill it once part of the backlog is projected.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut server = loop {
        let (_, projection) = call(&server, "GET", "/v1/projection", &tenant.api_key, None).await;
        let done = projection["generations"][0]["last_seq"]
            .as_i64()
            .unwrap_or(0);
        if done > 0 {
            assert!(
                done < total,
                "the whole backlog was projected before the kill: {projection}"
            );
            break server;
        }
        assert!(
            Instant::now() < deadline,
            "projection never started\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    server.kill();
    let server = server.kill_and_restart_with(&working);
    let projection = caught_up(&server, &tenant).await;
    assert_eq!(
        projection["log_head"],
        total + PEOPLE as i64,
        "one merge record per person: {projection}"
    );
    assert_eq!(
        projection["generations"][0]["events_applied"], total,
        "{projection}"
    );
    for person in 0..PEOPLE {
        let profile = profile_when(&server, &tenant, &format!("user_id:user-{person}"), |_| {
            true
        })
        .await;
        assert_eq!(
            profile["event_counts"]["Tick"]["count"],
            (ANONYMOUS + 2 * KNOWN) as i64,
            "person {person}: {profile}"
        );
        let (_, by_device) = call(
            &server,
            "GET",
            &format!("/v1/profiles/anonymous_id:anon-{person}"),
            &tenant.api_key,
            None,
        )
        .await;
        assert_eq!(by_device["profile_id"], profile["profile_id"]);
    }
}

#[tokio::test]
async fn metrics_need_their_token_and_show_projection_lag() {
    let mut env = suite_env();
    env.push(("CDP_METRICS_TOKEN".into(), "scrape-secret".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("metrics");
    send(
        &server,
        &tenant,
        vec![json!({"type": "track", "userId": "m", "event": "E"})],
    )
    .await;
    caught_up(&server, &tenant).await;
    let response = http().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = http()
        .get(server.url("/metrics"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = http()
        .get(server.url("/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let tenant_uuid = &tenant.id;
    let line = text
        .lines()
        .find(|l| l.starts_with("cdp_projection_lag_events{") && l.contains(tenant_uuid.as_str()))
        .unwrap_or_else(|| panic!("no lag series for the tenant:\n{text}"));
    assert!(line.ends_with(" 0"), "{line}");
    assert!(text.contains("# TYPE cdp_projection_stopped gauge"));

    // Without a token configured, there is no /metrics.
    let plain = Server::start(&suite_env());
    let response = http().get(plain.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}
