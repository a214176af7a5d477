//! The process's life: roles split over processes sharing one database, a graceful stop on
//! SIGTERM under load, and `cdp config` showing what is in effect without its secrets.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::access::call;
use crate::helpers::{Server, http, isolated_env, run_cdp};
use crate::profiles::{caught_up, profile_when};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_run_in_separate_processes_over_one_database() {
    let env = isolated_env().await;
    // One directory: on SQLite the two processes share its database file and master key.
    let dir = tempfile::tempdir().unwrap();
    let ingest = Server::start_in_with(dir.path(), &env, &["--roles", "ingest"]);
    let rest = Server::start_in_with(dir.path(), &env, &["--roles", "api,projector,dispatcher"]);
    let tenant = rest.create_tenant("split");

    let (status, answer) = ingest
        .track(
            &tenant,
            "/v1/identify",
            &json!({"userId": "split-1", "traits": {"plan": "pro"}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    // Each process serves its own routes only; health is everywhere.
    let (status, _) = rest
        .track(&tenant, "/v1/track", &json!({"userId": "x", "event": "E"}))
        .await;
    assert_eq!(status, 404, "the api process takes no events");
    let (status, _) = call(&ingest, "GET", "/v1/tenant", &tenant.api_key, None).await;
    assert_eq!(status, 404, "the ingest process has no management API");
    for server in [&ingest, &rest] {
        let ready = http().get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
    }

    // The event taken by one process is projected and served by the other.
    let profile = profile_when(&rest, &tenant, "user_id:split-1", |p| {
        p["traits"]["plan"]["value"] == "pro"
    })
    .await;
    assert!(profile["profile_id"].as_str().unwrap().starts_with("prof_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_requests_in_flight_then_exits_cleanly() {
    let env = isolated_env().await;
    let mut server = Server::start(&env);
    let tenant = server.create_tenant("graceful");
    let acks = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (url, key, acks) = (
            server.url("/v1/batch"),
            tenant.write_key.clone(),
            acks.clone(),
        );
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for n in 0.. {
                let ids: Vec<String> = (0..20).map(|i| format!("s{sender}-n{n}-{i}")).collect();
                let batch: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"type": "track", "userId": format!("u{sender}"), "event": "Tick", "messageId": id}))
                    .collect();
                let sent = http()
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => {
                        acked.extend(ids);
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    // A stopping server refuses nothing it accepted: it either answers
                    // 200 or no longer takes the connection.
                    Ok(r) => panic!("answered {} while stopping", r.status()),
                    Err(_) => return acked,
                }
            }
            acked
        }));
    }
    while acks.load(Ordering::Relaxed) < 20 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let (stopped_cleanly, server_back) = tokio::task::spawn_blocking(move || {
        let ok = server.terminate();
        (ok, server)
    })
    .await
    .unwrap();
    server = server_back;
    let mut acknowledged = Vec::new();
    for sender in senders {
        acknowledged.extend(sender.await.unwrap());
    }
    let log = server.log();
    assert!(
        stopped_cleanly,
        "cdp exited with an error after SIGTERM:\n{log}"
    );
    assert!(log.contains("the HTTP server has stopped"), "{log}");
    assert!(log.contains("the projector has stopped"), "{log}");

    let server = server.kill_and_restart();
    let events = server.events(&tenant).await;
    let stored: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(stored.len(), events.len(), "an event was stored twice");
    for id in &acknowledged {
        assert!(
            stored.contains(id.as_str()),
            "acknowledged event {id} was lost"
        );
    }
    // The projector resumes from the checkpoint it committed on the way out.
    caught_up(&server, &tenant).await;
}

#[test]
fn cdp_config_prints_the_effective_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cdp.toml"),
        "projector_workers = 3\nlog = \"warn\"\n",
    )
    .unwrap();
    let env = vec![
        ("CDP_LOG".to_owned(), "debug".to_owned()),
        (
            "CDP_METRICS_TOKEN".to_owned(),
            "very-secret-token".to_owned(),
        ),
        (
            "DATABASE_URL".to_owned(),
            "postgres://cdp:db-password@db/cdp".to_owned(),
        ),
    ];
    let out = run_cdp(dir.path(), &env, &["config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(
        printed.contains("projector_workers = 3"),
        "the file: {printed}"
    );
    assert!(
        printed.contains("log = \"debug\""),
        "the environment wins: {printed}"
    );
    assert!(printed.contains("metrics_token = \"***\""), "{printed}");
    assert!(printed.contains("database_url = \"***\""), "{printed}");
    assert!(!printed.contains("very-secret-token") && !printed.contains("db-password"));

    // A wrong value stops it with the field's name.
    let env = vec![("CDP_PROJECTOR_WORKERS".to_owned(), "many".to_owned())];
    let out = run_cdp(dir.path(), &env, &["config"]);
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.to_lowercase().contains("projector_workers"), "{said}");
}
