//! Subject access end to end: a compliance officer files an access request and downloads
//! everything held on the person, every event decrypted, and nothing of anyone else's;
//! once the person is erased, the export is gone too.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, http, suite_env};
use crate::privacy::{erase, request_when};
use crate::profiles::send;

/// Downloads an export once the projections have caught up with its request (409 until
/// then). Returns the status, the headers' content disposition and the parsed body.
pub(crate) async fn export_when_ready(
    server: &Server,
    tenant: &Tenant,
    url: &str,
) -> (u16, String, Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = http()
            .get(server.url(url))
            .bearer_auth(&tenant.api_key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let disposition = response
            .headers()
            .get("content-disposition")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status != 409 {
            return (status, disposition, body);
        }
        assert_eq!(body["code"], "not_ready", "{body}");
        assert!(Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn message_ids(export: &Value) -> BTreeSet<String> {
    export["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_export_holds_every_event_of_the_subject_and_nothing_of_anyone_else() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("subject-access");
    // More events than one page of the export holds, under two of her identities.
    let mut sent = BTreeSet::new();
    let mut first = vec![
        json!({"type": "page", "anonymousId": "ann-device", "name": "Home", "messageId": "ann-page"}),
        json!({"type": "identify", "userId": "42", "anonymousId": "ann-device", "messageId": "ann-identify",
               "traits": {"email": "ann@example.com", "name": "Ann Lee"},
               "context": {"consent": {"marketing": true, "analytics": false}}}),
        json!({"type": "identify", "userId": "77", "messageId": "bob-identify", "traits": {"email": "bob@example.org"}}),
        json!({"type": "track", "userId": "77", "event": "Order Completed", "messageId": "bob-order"}),
    ];
    sent.insert("ann-page".to_owned());
    sent.insert("ann-identify".to_owned());
    for i in 0..700 {
        let id = format!("ann-view-{i}");
        first.push(
            json!({"type": "track", "userId": "42", "event": "Product Viewed",
                          "properties": {"sku": format!("sku-{i}")}, "messageId": id}),
        );
        sent.insert(id);
    }
    send(&server, &tenant, first).await;
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "track", "anonymousId": "ann-device", "event": "Consent Changed",
                    "messageId": "ann-withdraws", "context": {"consent": {"marketing": false}}}),
        ],
    )
    .await;
    sent.insert("ann-withdraws".to_owned());

    let (status, request) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "access", "subject": {"type": "email", "value": "Ann@Example.com"}})),
    )
    .await;
    assert_eq!(status, 202, "{request}");
    assert_eq!(request["type"], "access");
    assert_eq!(request["status"], "received");
    assert!(!request.to_string().contains("example.com"), "{request}");
    let id = request["id"].as_str().unwrap().to_owned();
    let url = request["export_url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("/v1/privacy/requests/{id}/export"));

    let (status, disposition, export) = export_when_ready(&server, &tenant, &url).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(disposition, format!("attachment; filename=\"{id}.json\""));
    assert_eq!(export["complete"], true);
    assert_eq!(
        export["subject"],
        json!({"type": "email", "value": "ann@example.com"})
    );
    assert_eq!(export["request"]["id"], id.as_str());
    assert_eq!(export["event_count"], sent.len());
    assert_eq!(
        message_ids(&export),
        sent,
        "every event she sent, none of Bob's"
    );
    let events = export["events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["shredded"] == false),
        "all decrypted"
    );
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    let identify = events
        .iter()
        .find(|e| e["message_id"] == "ann-identify")
        .unwrap();
    assert_eq!(identify["payload"]["traits"]["name"], "Ann Lee");

    let profile = &export["profile"];
    assert_eq!(profile["traits"]["name"]["value"], "Ann Lee", "{profile}");
    let identities = crate::helpers::identities_of(profile);
    for identity in [
        "user_id:42",
        "anonymous_id:ann-device",
        "email:ann@example.com",
    ] {
        assert!(
            identities.contains(identity),
            "{identity} in {identities:?}"
        );
    }
    assert_eq!(
        profile["consent"]["marketing"]["granted"], false,
        "{profile}"
    );
    let history: Vec<(String, bool)> = export["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["purpose"].as_str().unwrap().to_owned(),
                c["granted"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            ("marketing".to_owned(), false),
            ("analytics".to_owned(), false),
            ("marketing".to_owned(), true),
        ],
        "newest first, as the events"
    );
    let everything = export.to_string();
    assert!(!everything.contains("bob@example.org"));
    assert!(!everything.contains("bob-order"));

    // Delivered whole: the request is completed and the audit chain says so, without her.
    let done = request_when(&server, &tenant, &id, "completed").await;
    assert!(done["completed_at"].is_string(), "{done}");
    let (_, audit) = call(
        &server,
        "GET",
        "/v1/audit?action=privacy.access",
        &tenant.api_key,
        None,
    )
    .await;
    let exported: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "privacy.access.exported")
        .collect();
    assert_eq!(exported.len(), 1, "{audit}");
    let started = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "privacy.access.download")
        .count();
    assert_eq!(started, 1, "{audit}");
    assert_eq!(exported[0]["details"]["events"], sent.len(), "{audit}");
    assert!(!audit.to_string().contains("example.com"), "{audit}");

    // Another tenant cannot take it; an erasure request has no export.
    let other = server.create_tenant("subject-access-other");
    let (status, _) = call(&server, "GET", &url, &other.api_key, None).await;
    assert_eq!(status, 404);
    let erasure = erase(&server, &tenant, json!({"type": "user_id", "value": "42"})).await;
    let erasure_id = erasure["id"].as_str().unwrap();
    let (status, answer) = call(
        &server,
        "GET",
        &format!("/v1/privacy/requests/{erasure_id}/export"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 400, "{answer}");

    // Once she is erased, nothing is held on her, so nothing can be exported.
    request_when(&server, &tenant, erasure_id, "completed").await;
    let (status, gone) = call(&server, "GET", &url, &tenant.api_key, None).await;
    assert_eq!(status, 410, "{gone}");
    assert_eq!(gone["code"], "gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_export_of_someone_never_seen_is_empty_and_whole() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("subject-access-nobody");
    send(
        &server,
        &tenant,
        vec![json!({"type": "track", "userId": "someone-else", "event": "Signed Up"})],
    )
    .await;
    let (status, request) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "access", "regulation": "ccpa", "subject": {"type": "user_id", "value": "nobody"}})),
    )
    .await;
    assert_eq!(status, 202, "{request}");
    let url = request["export_url"].as_str().unwrap();
    let (status, _, export) = export_when_ready(&server, &tenant, url).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["profile"], Value::Null);
    assert_eq!(export["events"], json!([]));
    assert_eq!(export["event_count"], 0);
    assert_eq!(export["complete"], true);
}
