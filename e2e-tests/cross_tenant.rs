//! Cross-tenant probing, endpoint by endpoint: tenant B's credentials against every
//! management endpoint of the access table, with tenant A's ids wherever the path takes
//! one. Nothing of A may show in any answer, nothing of A may change, and an endpoint whose
//! path takes an id the probe has no A value for fails the test, so a new endpoint cannot
//! go unprobed.

use std::collections::BTreeMap;

use cdp_api::endpoints::{ENDPOINTS, Guard};
use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, http, suite_env};
use crate::profiles::profile_when;

const SECRET: &str = "Secret of A";

/// Status and body as text, whatever the content type.
async fn raw(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http().request(method, server.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn created(server: &Server, tenant: &Tenant, method: &str, path: &str, body: Value) -> Value {
    let (status, made) = call(server, method, path, &tenant.api_key, Some(&body)).await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {made}"
    );
    made
}

/// A's things, by the name of the path parameter that takes them.
async fn tenant_a_things(server: &Server, a: &Tenant) -> BTreeMap<&'static str, String> {
    let (status, _) = server
        .track(
            a,
            "/v1/identify",
            &json!({"userId": "probe-u1", "traits": {"plan": SECRET, "email": "probe@a.example"}}),
        )
        .await;
    assert_eq!(status, 200);
    let profile = profile_when(server, a, "user_id:probe-u1", |p| {
        p["traits"]["plan"]["value"] == SECRET
    })
    .await;
    let segment = created(
        server,
        a,
        "POST",
        "/v1/segments",
        json!({"name": "A's segment", "text": "trait plan exists"}),
    )
    .await;
    let destination = created(
        server,
        a,
        "POST",
        "/v1/destinations",
        json!({"name": "A's hook", "url": "http://127.0.0.1:9/hook", "purpose": "analytics",
               "receives": {"events": true}}),
    )
    .await;
    let request = created(
        server,
        a,
        "POST",
        "/v1/privacy/requests",
        json!({"type": "access", "subject": {"type": "user_id", "value": "probe-u1"}}),
    )
    .await;
    created(
        server,
        a,
        "PUT",
        "/v1/computed-traits/a_spend",
        json!({"kind": "sum", "event": "Order Completed", "property": "total"}),
    )
    .await;
    let member = created(
        server,
        a,
        "POST",
        "/v1/members",
        json!({"email": "analyst@a.example", "role": "analyst"}),
    )
    .await;
    let (_, keys) = call(server, "GET", "/v1/keys", &a.api_key, None).await;
    let (_, sources) = call(server, "GET", "/v1/sources", &a.api_key, None).await;
    let import = crate::access::an_import(server, &a.api_key).await;
    let id = |v: &Value, keys: &[&str]| -> String {
        keys.iter()
            .find_map(|k| v[*k].as_str())
            .unwrap_or_else(|| panic!("no id in {v}"))
            .to_owned()
    };
    BTreeMap::from([
        ("profile", id(&profile, &["profile_id"])),
        ("segment_id", id(&segment, &["segment_id", "id"])),
        (
            "destination_id",
            id(&destination, &["id", "destination_id"]),
        ),
        ("request_id", id(&request, &["id", "request_id"])),
        ("name", "a_spend".to_owned()),
        ("user_id", id(&member, &["user_id"])),
        ("credential_id", id(&keys["keys"][0], &["id"])),
        ("source_id", id(&sources["sources"][0], &["id"])),
        ("import_id", import),
        ("seq", "1".to_owned()),
        ("tenant_id", a.id.clone()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_another_tenants_ids_and_shows_nothing_of_it() {
    let mut env = suite_env();
    env.push((
        "CDP_DESTINATIONS_ALLOWED_NETWORKS".into(),
        "127.0.0.1".into(),
    ));
    let server = Server::start(&env);
    let a = server.create_tenant("probe-a");
    let b = server.create_tenant("probe-b");
    let things = tenant_a_things(&server, &a).await;
    // What must never show in an answer to B: every id of A's, and its data.
    let mut secrets: Vec<String> = things.values().filter(|v| v.len() > 8).cloned().collect();
    secrets.extend([
        SECRET.to_owned(),
        "probe@a.example".to_owned(),
        "probe-u1".to_owned(),
    ]);

    let mut probed = 0;
    let mut unprobed = Vec::new();
    for endpoint in ENDPOINTS {
        if endpoint.path == "/v1/stream" {
            // Server-sent events never end; the stream's tenant scoping is tested with the
            // stream itself (sharing.rs).
            continue;
        }
        let mut path = endpoint.path.to_owned();
        let mut covered = true;
        for param in endpoint
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            match things.get(param) {
                Some(value) => path = path.replace(&format!("{{{param}}}"), value),
                None => covered = false,
            }
        }
        if !covered {
            unprobed.push(format!("{} {}", endpoint.method, endpoint.path));
            continue;
        }
        let takes_id = endpoint.path.contains('{');
        // Creating B's own things is not a probe of A's.
        if !takes_id && endpoint.method != "GET" && endpoint.method != "POST" {
            continue;
        }
        let body = match endpoint.method {
            "GET" | "DELETE" => None,
            _ => Some(json!({})),
        };
        let (status, answer) =
            raw(&server, endpoint.method, &path, &b.api_key, body.as_ref()).await;
        probed += 1;
        for secret in &secrets {
            assert!(
                !answer.contains(secret.as_str()),
                "{} {} answered B with A's {secret}: {status} {answer}",
                endpoint.method,
                endpoint.path
            );
        }
        assert!(
            status < 500,
            "{} {path}: {status} {answer}",
            endpoint.method
        );
        match endpoint.guard {
            Guard::Platform => assert!(
                status == 401 || status == 403,
                "{} {path}: {status} {answer}",
                endpoint.method
            ),
            _ if takes_id && endpoint.path.starts_with("/v1/computed-traits/") => {
                // Trait names are each tenant's own: B acts on a trait of its own name.
                assert!(
                    status != 200 || endpoint.method == "PUT",
                    "{} {path}: {status}",
                    endpoint.method
                );
            }
            _ if takes_id => assert!(
                status == 404 || status == 400,
                "{} {path} with A's id answered B {status}: {answer}",
                endpoint.method
            ),
            _ => {}
        }
    }
    assert!(
        unprobed.is_empty(),
        "endpoints with ids the probe has no A value for: {unprobed:?}"
    );
    assert!(probed > 50, "only {probed} endpoints probed");

    // A's things are all still there and unchanged.
    for path in [
        format!("/v1/segments/{}", things["segment_id"]),
        format!("/v1/destinations/{}", things["destination_id"]),
        format!("/v1/privacy/requests/{}", things["request_id"]),
        format!("/v1/sources/{}", things["source_id"]),
        format!("/v1/imports/{}", things["import_id"]),
        format!("/v1/profiles/{}", things["profile"]),
    ] {
        let (status, _) = call(&server, "GET", &path, &a.api_key, None).await;
        assert_eq!(status, 200, "A lost {path}");
    }
    let (_, traits) = call(&server, "GET", "/v1/computed-traits", &a.api_key, None).await;
    assert!(traits.to_string().contains("a_spend"), "{traits}");
    let (_, members) = call(&server, "GET", "/v1/members", &a.api_key, None).await;
    assert!(
        members.to_string().contains(&things["user_id"]),
        "{members}"
    );
    let (_, keys) = call(&server, "GET", "/v1/keys", &a.api_key, None).await;
    assert!(
        keys.to_string().contains(&things["credential_id"]),
        "{keys}"
    );
    eprintln!(
        "cross-tenant probe: {probed} endpoints called with B's key and A's ids; nothing of A in any answer"
    );
}
