//! Data-subject erasure end to end: a compliance request erases a person from the
//! profiles and makes every event about them unreadable, leaves everyone else alone,
//! survives a rebuild, and leaves evidence without personal data.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, Tenant, suite_env};
use crate::profiles::{caught_up, profile_when, send};

/// Polls a request until its status is `status`, for at most 60 seconds.
pub(crate) async fn request_when(
    server: &Server,
    tenant: &Tenant,
    id: &str,
    status: &str,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, request) = call(
            server,
            "GET",
            &format!("/v1/privacy/requests/{id}"),
            &tenant.api_key,
            None,
        )
        .await;
        assert_eq!(code, 200, "{request}");
        if request["status"] == status {
            return request;
        }
        assert_ne!(request["status"], "failed", "{request}");
        assert!(
            Instant::now() < deadline,
            "request never reached {status}: {request}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// No identity of hers leads to a profile.
async fn ann_is_gone(server: &Server, tenant: &Tenant, when: &str) {
    for key in [
        "user_id:42",
        "anonymous_id:ann-device-1",
        "email:ann@example.com",
    ] {
        let path = format!("/v1/profiles/{key}");
        let (status, body) = call(server, "GET", &path, &tenant.api_key, None).await;
        assert_eq!(status, 404, "{when}, {key}: {body}");
    }
}

pub(crate) async fn erase(server: &Server, tenant: &Tenant, subject: Value) -> Value {
    let (status, request) = call(
        server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "erasure", "subject": subject})),
    )
    .await;
    assert_eq!(status, 202, "{request}");
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_subject_is_unreadable_gone_from_profiles_and_stays_gone_after_a_rebuild() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("erasure");
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "page", "anonymousId": "ann-device-1", "name": "Home"}),
            json!({"type": "identify", "userId": "42", "anonymousId": "ann-device-1",
                   "traits": {"email": "Ann@Example.com", "name": "Ann Lee"}}),
            json!({"type": "track", "userId": "42", "event": "Order Completed", "properties": {"total": 99.5}}),
            json!({"type": "identify", "userId": "77", "traits": {"email": "bob@example.org"}}),
            json!({"type": "track", "userId": "77", "event": "Order Completed", "properties": {"total": 5}}),
        ],
    )
    .await;
    profile_when(&server, &tenant, "user_id:42", |p| {
        p["event_counts"]["Order Completed"]["count"] == 1
    })
    .await;
    let bob_before = profile_when(&server, &tenant, "user_id:77", |p| {
        p["event_counts"]["Order Completed"]["count"] == 1
    })
    .await;

    // Named by an identity other than the one that sealed her events, in another case.
    let request = erase(
        &server,
        &tenant,
        json!({"type": "email", "value": "ANN@example.com"}),
    )
    .await;
    let id = request["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dsr_"), "{request}");
    assert_eq!(request["status"], "received");
    assert_eq!(request["type"], "erasure");
    assert_eq!(request["subject_type"], "email");
    assert_eq!(request["regulation"], "gdpr");
    let received: chrono::DateTime<chrono::Utc> =
        request["received_at"].as_str().unwrap().parse().unwrap();
    let due: chrono::DateTime<chrono::Utc> = request["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due - received, chrono::TimeDelta::days(30));
    assert!(!request.to_string().contains("example.com"), "{request}");

    let done = request_when(&server, &tenant, &id, "completed").await;
    let receipt = &done["receipt"];
    // Her user id, her anonymous id, and the e-mail address the request named.
    assert_eq!(
        receipt["keys_shredded"].as_array().unwrap().len(),
        3,
        "{done}"
    );
    assert_eq!(receipt["identities_erased"], 3, "{done}");
    assert_eq!(receipt["profiles_erased"], 1, "{done}");
    assert!(receipt["completed_at"].is_string(), "{done}");
    assert!(done["erased_at"].is_string());

    ann_is_gone(&server, &tenant, "after the erasure").await;
    let bob = profile_when(&server, &tenant, "user_id:77", |_| true).await;
    assert_eq!(bob["profile_id"], bob_before["profile_id"]);
    assert_eq!(bob["event_counts"], bob_before["event_counts"]);

    // The log keeps its rows, unreadable; nothing of hers is left in clear.
    let events = server.events(&tenant).await;
    let shredded = events.iter().filter(|e| e["shredded"] == true).count();
    assert_eq!(
        shredded,
        4,
        "her three events and the erasure order: {events:?}\nreceipt: {done}\n{}",
        server.log()
    );
    let everything = serde_json::to_string(&events).unwrap();
    for personal in [
        "Ann Lee",
        "ann@example.com",
        "Ann@Example.com",
        "ann-device-1",
    ] {
        assert!(!everything.contains(personal), "{personal} in {everything}");
    }
    assert!(everything.contains("bob@example.org"));

    // The audit chain holds the request and the erasure, without personal data, and holds.
    let (status, audit) = call(&server, "GET", "/v1/audit", &tenant.api_key, None).await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "privacy.request.create",
        "privacy.erasure.erased",
        "privacy.erasure.completed",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(!audit.to_string().contains("example.com"), "{audit}");
    let erased_entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "privacy.erasure.erased")
        .unwrap();
    assert_eq!(erased_entry["seq"], receipt["audit_seq"]);
    assert_eq!(erased_entry["hash"], receipt["audit_hash"]);
    let (status, verified) = call(&server, "GET", "/v1/audit/verify", &tenant.api_key, None).await;
    assert_eq!(status, 200);
    assert_eq!(verified["valid"], true, "{verified}");
    // The receipt checked against the audit entry, the chain and the key store.
    let (status, checked) = call(
        &server,
        "GET",
        &format!("/v1/privacy/requests/{id}/receipt/verify"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["verified"], true, "{checked}");
    let checks = checked["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 6);
    assert!(checks.iter().all(|c| c["ok"] == true), "{checked}");
    assert_eq!(checked["keys_still_live"], json!([]));

    // A rebuild from the log brings nothing back.
    let out = server.cdp(&["rebuild", "--tenant", &tenant.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt: Value = serde_json::from_slice(&out.stdout).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let projection = caught_up(&server, &tenant).await;
        if projection["generations"][0]["generation"] == rebuilt["generation"] {
            break;
        }
        assert!(Instant::now() < deadline, "{projection}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ann_is_gone(&server, &tenant, "after the rebuild").await;
    let bob = profile_when(&server, &tenant, "user_id:77", |_| true).await;
    assert_eq!(bob["event_counts"], bob_before["event_counts"]);

    // Her identities are suppressed: what her browser sends next is dropped, not stored.
    assert_eq!(receipt["identities_suppressed"], 3, "{done}");
    let logged = server.events(&tenant).await.len();
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "page", "anonymousId": "ann-device-1", "name": "Back again"}),
            json!({"type": "identify", "userId": "42", "traits": {"plan": "free"}}),
            json!({"type": "identify", "userId": "new-account", "traits": {"email": "ann@example.com"}}),
        ],
    )
    .await;
    assert_eq!(server.events(&tenant).await.len(), logged, "nothing stored");
    // Lifted for her user id (she signed up again, say): that one is stored once more.
    let (status, lifted) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "unsuppression", "subject": {"type": "user_id", "value": "42"}})),
    )
    .await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["status"], "completed");
    send(
        &server,
        &tenant,
        vec![json!({"type": "identify", "userId": "42", "traits": {"plan": "free"}})],
    )
    .await;
    assert_eq!(server.events(&tenant).await.len(), logged + 1);
    let back = profile_when(&server, &tenant, "user_id:42", |_| true).await;
    assert_eq!(
        back["traits"]["plan"]["value"], "free",
        "a new profile, from now on"
    );
    assert!(back["traits"].get("name").is_none(), "{back}");

    // Listed with its filters; another tenant sees nothing of it.
    let (status, page) = call(
        &server,
        "GET",
        "/v1/privacy/requests?type=erasure&status=completed",
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["requests"][0]["id"], id.as_str());
    let (_, overdue) = call(
        &server,
        "GET",
        "/v1/privacy/requests?overdue=true",
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(overdue["requests"], json!([]));
    let other = server.create_tenant("erasure-other");
    let (status, _) = call(
        &server,
        "GET",
        &format!("/v1/privacy/requests/{id}"),
        &other.api_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, theirs) = call(&server, "GET", "/v1/privacy/requests", &other.api_key, None).await;
    assert_eq!(theirs["requests"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_someone_never_seen_completes_and_bad_requests_are_refused() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("erasure-edges");
    let request = erase(
        &server,
        &tenant,
        json!({"type": "user_id", "value": "nobody"}),
    )
    .await;
    let done = request_when(
        &server,
        &tenant,
        request["id"].as_str().unwrap(),
        "completed",
    )
    .await;
    assert_eq!(done["receipt"]["profiles_erased"], 0, "{done}");
    // The key made to seal the order itself.
    assert_eq!(
        done["receipt"]["keys_shredded"].as_array().unwrap().len(),
        1
    );

    let (status, ccpa) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "erasure", "regulation": "ccpa",
                     "subject": {"type": "user_id", "value": "x"}})),
    )
    .await;
    assert_eq!(status, 202, "{ccpa}");
    let received: chrono::DateTime<chrono::Utc> =
        ccpa["received_at"].as_str().unwrap().parse().unwrap();
    let due: chrono::DateTime<chrono::Utc> = ccpa["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due - received, chrono::TimeDelta::days(45));

    // Suppressing someone who was never erased: their events are dropped from then on.
    let (status, suppressed) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "suppression", "subject": {"type": "email", "value": "Opted.Out@example.com"}})),
    )
    .await;
    assert_eq!(status, 200, "{suppressed}");
    send(
        &server,
        &tenant,
        vec![
            json!({"type": "identify", "userId": "x-1", "traits": {"email": "opted.out@EXAMPLE.com"}}),
            json!({"type": "track", "userId": "x-2", "event": "Kept"}),
        ],
    )
    .await;
    let stored: Vec<Value> = server.events(&tenant).await;
    let names: Vec<&str> = stored
        .iter()
        .filter_map(|e| e["payload"]["userId"].as_str())
        .collect();
    assert_eq!(names, vec!["x-2"], "{stored:?}");
    // An erasure that leaves the identities free to come back.
    let (status, unsuppressed) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "erasure", "suppress": false, "subject": {"type": "user_id", "value": "x-2"}})),
    )
    .await;
    assert_eq!(status, 202, "{unsuppressed}");
    let done = request_when(
        &server,
        &tenant,
        unsuppressed["id"].as_str().unwrap(),
        "completed",
    )
    .await;
    assert_eq!(done["receipt"]["identities_suppressed"], 0, "{done}");

    let long = "x".repeat(2000);
    for (body, why) in [
        (
            json!({"type": "forget", "subject": {"type": "user_id", "value": "1"}}),
            "type must be",
        ),
        (
            json!({"type": "erasure", "subject": {"type": "shoe_size", "value": "1"}}),
            "unknown subject type",
        ),
        (
            json!({"type": "erasure", "subject": {"type": "user_id", "value": " "}}),
            "1 to 1024",
        ),
        (
            json!({"type": "erasure", "subject": {"type": "user_id", "value": long}}),
            "1 to 1024",
        ),
        (
            json!({"type": "erasure", "regulation": "lgpd", "subject": {"type": "user_id", "value": "1"}}),
            "gdpr or ccpa",
        ),
        (
            json!({"type": "access", "suppress": false, "subject": {"type": "user_id", "value": "1"}}),
            "suppress applies to erasure requests only",
        ),
    ] {
        let (status, answer) = call(
            &server,
            "POST",
            "/v1/privacy/requests",
            &tenant.api_key,
            Some(&body),
        )
        .await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(why), "{body}: {answer}");
    }
    for (path, expected) in [
        (
            "/v1/privacy/requests/dsr_0190000000007000800000000000dead",
            404,
        ),
        (
            "/v1/privacy/requests/prof_0190000000007000800000000000dead",
            400,
        ),
        ("/v1/privacy/requests?status=lost", 400),
        ("/v1/privacy/requests?limit=0", 400),
    ] {
        let (status, answer) = call(&server, "GET", path, &tenant.api_key, None).await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    // Listed newest first, in pages.
    let (_, first) = call(
        &server,
        "GET",
        "/v1/privacy/requests?limit=1",
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(first["requests"][0]["id"], unsuppressed["id"]);
    let before = first["next_before"].as_str().unwrap();
    let (_, second) = call(
        &server,
        "GET",
        &format!("/v1/privacy/requests?limit=1&type=erasure&before={before}"),
        &tenant.api_key,
        None,
    )
    .await;
    assert_eq!(second["requests"][0]["id"], ccpa["id"]);
}
