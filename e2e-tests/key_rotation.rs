//! Key rotation end to end, while the server keeps serving: a tenant key rotated under
//! ingestion loses no event and leaves every event readable; a master key replaced by a
//! rolling restart (new key with the old as previous, rewrap, old key dropped) likewise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::helpers::{Server, Tenant, random_master_key, run_cdp, suite_env};
use crate::profiles::send;

async fn all_readable(server: &Server, tenant: &Tenant, expected: usize) {
    let events = server.events(tenant).await;
    assert_eq!(
        events.len(),
        expected,
        "every event acknowledged is in the log"
    );
    let unreadable: Vec<&Value> = events.iter().filter(|e| e["shredded"] != false).collect();
    assert!(unreadable.is_empty(), "unreadable: {unreadable:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_key_rotated_under_ingestion_leaves_every_event_readable() {
    let server = Arc::new(Server::start(&suite_env()));
    let tenant = server.create_tenant("tenant-key-rotation");
    let batch = |round: usize| -> Vec<Value> {
        (0..20)
            .map(|i| json!({"type": "track", "userId": format!("u{round}-{i}"), "event": "Viewed"}))
            .collect()
    };
    send(&server, &tenant, batch(0)).await;

    // New people keep arriving (each gets a new data key) for as long as it runs.
    let running = Arc::new(AtomicBool::new(true));
    let sender = {
        let (server, tenant, running) = (server.clone(), tenant.clone(), running.clone());
        tokio::spawn(async move {
            let mut rounds = 1;
            while running.load(Ordering::SeqCst) {
                send(&server, &tenant, batch(rounds)).await;
                rounds += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            rounds
        })
    };
    let rotate = {
        let (dir, id) = (server.dir.clone(), tenant.id.clone());
        tokio::task::spawn_blocking(move || {
            run_cdp(&dir, &suite_env(), &["keys", "rotate-tenant", &id])
        })
    };
    let out = rotate.await.unwrap();
    running.store(false, Ordering::SeqCst);
    let rounds = sender.await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotation: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rounds > 2, "ingestion went on during the rotation");
    assert!(
        rotation["data_keys_rewrapped"].as_u64().unwrap() >= 20,
        "{rotation}"
    );
    assert_eq!(
        rotation["versions_destroyed"].as_array().unwrap().len(),
        1,
        "{rotation}"
    );
    assert_eq!(rotation["versions_kept"], json!([]), "{rotation}");

    all_readable(&server, &tenant, rounds * 20).await;
    // And after a restart, with nothing cached.
    let dir = server.dir.clone();
    let restarted = Server::start_in(&dir, &suite_env());
    all_readable(&restarted, &tenant, rounds * 20).await;
}

/// On the embedded default only: a master key is the whole installation's, and the
/// PostgreSQL run shares one database between the tests (the keyring's own tests rotate
/// master keys on both backends).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_key_replaced_by_a_rolling_restart_loses_nothing() {
    if std::env::var("DATABASE_URL").is_ok() {
        return;
    }
    let old_key = random_master_key();
    let new_key = random_master_key();
    let with = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let before = Server::start(&with(&[("CDP_MASTER_KEY", &old_key)]));
    let tenant = before.create_tenant("master-key-rotation");
    send(
        &before,
        &tenant,
        vec![json!({"type": "identify", "userId": "42", "traits": {"email": "ann@example.com"}})],
    )
    .await;

    // A second process with the new key and the old one as previous serves beside the
    // first, then rewraps everything.
    let during_env = with(&[
        ("CDP_MASTER_KEY", &new_key),
        ("CDP_PREVIOUS_MASTER_KEY", &old_key),
    ]);
    let during = Server::start_in(&before.dir, &during_env);
    all_readable(&during, &tenant, 1).await;
    let out = run_cdp(&before.dir, &during_env, &["keys", "rotate-master"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotation: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        rotation["tenant_keys_rewrapped"].as_u64().unwrap() >= 1,
        "{rotation}"
    );
    assert_eq!(rotation["tenant_keys_left"], 0, "{rotation}");
    drop(during);

    // The old key is gone from the configuration: the new one alone serves everything,
    // old events and new.
    let after = Server::start_in(&before.dir, &with(&[("CDP_MASTER_KEY", &new_key)]));
    all_readable(&after, &tenant, 1).await;
    send(
        &after,
        &tenant,
        vec![json!({"type": "track", "userId": "42", "event": "Came Back"})],
    )
    .await;
    all_readable(&after, &tenant, 2).await;
    let other = after.create_tenant("created-after");
    send(
        &after,
        &other,
        vec![json!({"type": "track", "userId": "7", "event": "Hello"})],
    )
    .await;
    all_readable(&after, &other, 1).await;
}
