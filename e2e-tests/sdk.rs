//! The official tracking SDKs, unchanged, against a running cdp: every call type goes in,
//! and every field the SDK sent comes back out of the log.
//!
//! They need the SDKs installed (`.ci/run` does it): CDP_E2E_PYTHON names a Python with
//! segment-analytics-python, CDP_E2E_NODE_DIR the folder where `npm ci` installed
//! @segment/analytics-node. Without them the tests say so and pass, unless
//! CDP_E2E_SDKS=required, as in CI, where a missing SDK fails them.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{Server, Tenant, suite_env};

fn sdk_path(variable: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("CDP_E2E_SDKS").as_deref() == Ok("required") => {
            panic!("{variable} is not set, and CDP_E2E_SDKS=required")
        }
        None => {
            eprintln!("skipped: {variable} is not set (see e2e-tests/README.md)");
            None
        }
    }
}

fn sdk_script(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../e2e-tests/sdk")
        .join(relative)
}

/// Runs a sender script and returns the events it reports having sent.
async fn run_sender(mut command: Command) -> Vec<Value> {
    let output = tokio::task::spawn_blocking(move || command.output().expect("run the SDK script"))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "the SDK script failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the SDK script prints a JSON array")
}

/// Every event the SDK sent is in the log exactly once, with every field it carried. The
/// client's `timestamp` is kept as `originalTimestamp` (the stored `timestamp` is corrected
/// for clock skew); `sentAt` and `writeKey` belong to the request, not the event.
async fn assert_stored_intact(server: &Server, tenant: &Tenant, sent: &[Value], prefix: &str) {
    assert_eq!(sent.len(), 6, "the script sends one event per call type");
    let events = server.events(tenant).await;
    for message in sent {
        let id = message["messageId"]
            .as_str()
            .expect("the SDK sets messageId");
        let matching: Vec<&Value> = events.iter().filter(|e| e["message_id"] == id).collect();
        assert_eq!(matching.len(), 1, "{id} is stored {} times", matching.len());
        let stored = &matching[0]["payload"];
        for (key, value) in message.as_object().unwrap() {
            match key.as_str() {
                "sentAt" | "writeKey" => {}
                "timestamp" => assert_eq!(stored["originalTimestamp"], *value, "{id}: timestamp"),
                _ => assert_eq!(stored[key], *value, "{id}: field {key}"),
            }
        }
        assert_eq!(
            matching[0]["type"], message["type"],
            "{id}: the log's event type"
        );
    }
    let types: std::collections::BTreeSet<&str> =
        sent.iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.len(),
        6,
        "{prefix}: not every call type was sent: {types:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_in_sync_mode_and_with_gzip() {
    let Some(python) = sdk_path("CDP_E2E_PYTHON") else {
        return;
    };
    let server = Server::start(&suite_env());
    for mode in ["sync", "gzip"] {
        let tenant = server.create_tenant(&format!("python {mode}"));
        let prefix = format!("py-{mode}");
        let mut command = Command::new(&python);
        command.arg(sdk_script("python/send_all.py")).args([
            &server.base_url,
            &tenant.write_key,
            mode,
            &prefix,
        ]);
        let sent = run_sender(command).await;
        assert_stored_intact(&server, &tenant, &sent, &prefix).await;
        assert_eq!(server.events(&tenant).await.len(), 6);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_sdk_with_close_and_flush() {
    let Some(node_dir) = sdk_path("CDP_E2E_NODE_DIR") else {
        return;
    };
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("node");
    let mut command = Command::new("node");
    command
        .current_dir(&node_dir)
        .arg(sdk_script("node/send_all.mjs"))
        .args([&server.base_url, &tenant.write_key, "node"]);
    let sent = run_sender(command).await;
    assert_stored_intact(&server, &tenant, &sent, "node").await;
    assert_eq!(server.events(&tenant).await.len(), 6);
}
