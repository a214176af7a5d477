//! Consent end to end: recorded from tracked events and through the API, every change in
//! the log with its source and time, the profile showing where each purpose stands, and
//! bad input refused.

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, suite_env};
use crate::profiles::{profile_when, send};
use crate::subject_access::export_when_ready;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_from_events_and_the_api_lands_on_the_profile_and_in_the_log() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("consent");
    send(
        &server,
        &tenant,
        vec![json!({"type": "identify", "userId": "42", "traits": {"email": "ann@example.com"},
                    "context": {"consent": {"categoryPreferences": {"Marketing": true, "Analytics": true}}}})],
    )
    .await;
    let before = profile_when(&server, &tenant, "user_id:42", |p| {
        p["consent"]["marketing"]["granted"] == true
    })
    .await;

    let until = (chrono::Utc::now() + chrono::TimeDelta::days(365)).to_rfc3339();
    let (status, recorded) = call(
        &server,
        "POST",
        "/v1/consent",
        &tenant.api_key,
        Some(&json!({
            "subject": {"type": "email", "value": "Ann@Example.com"},
            "purposes": {"Marketing": false, "personalization": true},
            "expires_at": until,
            "source": "preference-centre",
        })),
    )
    .await;
    assert_eq!(status, 202, "{recorded}");
    assert_eq!(
        recorded["purposes"],
        json!({"marketing": false, "personalization": true})
    );
    assert!(!recorded.to_string().contains("example.com"), "{recorded}");
    let seq = recorded["log_seq"].as_i64().unwrap();

    let after = profile_when(&server, &tenant, "user_id:42", |p| {
        p["consent"]["marketing"]["granted"] == false
    })
    .await;
    assert_eq!(after["profile_id"], before["profile_id"], "the same person");
    let consent = &after["consent"];
    assert_eq!(consent["personalization"]["granted"], true, "{consent}");
    assert!(
        consent["personalization"]["expires_at"].is_string(),
        "{consent}"
    );
    assert_eq!(
        consent["analytics"]["granted"], true,
        "untouched: {consent}"
    );
    assert_eq!(
        after["last_seen"], before["last_seen"],
        "staff recording consent is not the person being seen"
    );

    // The change is a log event of its own, sealed like every other.
    let events = server.events(&tenant).await;
    let change = events
        .iter()
        .find(|e| e["seq"] == seq)
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(change["type"], "consent");
    assert_eq!(change["payload"]["source"], "preference-centre");
    assert_eq!(change["payload"]["context"]["consent"]["marketing"], false);

    // The access export shows the whole history, newest first, with where each came from.
    let (status, request) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "access", "subject": {"type": "user_id", "value": "42"}})),
    )
    .await;
    assert_eq!(status, 202, "{request}");
    let url = request["export_url"].as_str().unwrap();
    let (status, _, export) = export_when_ready(&server, &tenant, url).await;
    assert_eq!(status, 200, "{export}");
    let history: Vec<(&str, bool, &str, Option<&str>)> = export["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["purpose"].as_str().unwrap(),
                c["granted"].as_bool().unwrap(),
                c["via"].as_str().unwrap(),
                c["source"].as_str(),
            )
        })
        .collect();
    let source_id = events[0]["source_id"].as_str();
    assert_eq!(
        history,
        vec![
            ("marketing", false, "api", Some("preference-centre")),
            ("personalization", true, "api", Some("preference-centre")),
            ("analytics", true, "event", source_id),
            ("marketing", true, "event", source_id),
        ],
        "{export}"
    );

    // Recorded in the audit chain with its purposes, never the person.
    let (_, audit) = call(
        &server,
        "GET",
        "/v1/audit?action=consent",
        &tenant.api_key,
        None,
    )
    .await;
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "consent.record", "{audit}");
    assert_eq!(entry["details"]["purposes"]["marketing"], false);
    assert!(!audit.to_string().contains("example.com"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_consent_records_are_refused_and_an_erased_person_gets_none() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("consent-refused");
    let subject = json!({"type": "user_id", "value": "42"});
    let past = (chrono::Utc::now() - chrono::TimeDelta::days(1)).to_rfc3339();
    for (body, why) in [
        (
            json!({"subject": subject, "purposes": {}}),
            "1 to 32 purposes",
        ),
        (
            json!({"subject": subject, "purposes": {"two words": true}}),
            "letters, digits",
        ),
        (json!({"subject": subject, "purposes": {"ads": "yes"}}), ""),
        (
            json!({"subject": subject, "purposes": {"ads": true}, "expires_at": past}),
            "in the future",
        ),
        (
            json!({"subject": subject, "purposes": {"ads": true}, "source": ""}),
            "printable",
        ),
        (
            json!({"subject": {"type": "shoe_size", "value": "9"}, "purposes": {"ads": true}}),
            "unknown subject type",
        ),
        (
            json!({"subject": subject, "purposes": {"ads": true}, "extra": 1}),
            "",
        ),
    ] {
        let (status, answer) =
            call(&server, "POST", "/v1/consent", &tenant.api_key, Some(&body)).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer.to_string().contains(why), "{body}: {answer}");
    }
    let logged = server.events(&tenant).await.len();
    assert_eq!(logged, 0, "nothing refused was stored");

    let (status, _) = call(
        &server,
        "POST",
        "/v1/privacy/requests",
        &tenant.api_key,
        Some(&json!({"type": "suppression", "subject": subject})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer): (u16, Value) = call(
        &server,
        "POST",
        "/v1/consent",
        &tenant.api_key,
        Some(&json!({"subject": subject, "purposes": {"ads": true}})),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("suppressed"),
        "{answer}"
    );
    assert_eq!(server.events(&tenant).await.len(), 0);
}

/// The consent overview counts profiles per purpose and decision (a grant run out counted
/// apart), names no one, and shows another tenant nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_overview_counts_decisions_per_purpose() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("tallied");
    let other = server.create_tenant("untallied");
    let consent = |user: &str, marketing: bool| {
        json!({"type": "identify", "userId": user, "traits": {"email": format!("{user}@example.com")},
               "context": {"consent": {"categoryPreferences": {"Marketing": marketing}}}})
    };
    send(
        &server,
        &tenant,
        vec![consent("a", true), consent("b", true), consent("c", false)],
    )
    .await;
    let soon = (chrono::Utc::now() + chrono::TimeDelta::seconds(2)).to_rfc3339();
    let (status, body) = call(
        &server,
        "POST",
        "/v1/consent",
        &tenant.api_key,
        Some(&json!({"subject": {"type": "user_id", "value": "b"},
                     "purposes": {"marketing": true, "ads": true}, "expires_at": soon})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    profile_when(&server, &tenant, "user_id:b", |p| {
        p["consent"]["ads"]["granted"] == true
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;

    let (status, overview) = call(&server, "GET", "/v1/consent", &tenant.api_key, None).await;
    assert_eq!(status, 200, "{overview}");
    assert_eq!(
        overview["purposes"],
        json!([
            {"purpose": "ads", "granted": 0, "refused": 0, "expired": 1},
            {"purpose": "marketing", "granted": 1, "refused": 1, "expired": 1},
        ])
    );
    assert!(!overview.to_string().contains("example.com"));
    let (status, theirs) = call(&server, "GET", "/v1/consent", &other.api_key, None).await;
    assert_eq!(status, 200, "{theirs}");
    assert_eq!(theirs["purposes"], json!([]));
}
