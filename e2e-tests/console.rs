//! The console in a real headless Chromium (Debian's `chromium`, driven by Playwright from
//! `e2e-tests/console/run.mjs`): a new owner signs in with a one-time password and chooses
//! their own, creates a source, sends events with its key, finds the profile (a trait that
//! holds markup is shown as text and runs nothing), builds a segment and sees its size,
//! and carries out an erasure. Screenshots of each step go to `target/console-screenshots`.
//! Also, without a browser: the console's files carry a strict Content-Security-Policy.
//!
//! The browser test needs `npm ci` in e2e-tests/console and /usr/bin/chromium (`.ci/run`
//! installs both). Without them it says so and passes, unless CDP_E2E_BROWSER=required, as
//! in CI, where their absence fails it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::helpers::{Server, http, suite_env};

const NEW_PASSWORD: &str = "Console-Passw0rd-of-the-test";

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e-tests/console")
}

fn chromium() -> PathBuf {
    std::env::var_os("CDP_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether the browser and its driver are installed; absent ones fail the test in CI.
fn browser_ready() -> bool {
    let missing: Vec<String> = [
        console_dir().join("node_modules/playwright-core"),
        chromium(),
    ]
    .into_iter()
    .filter(|p| !Path::new(p).exists())
    .map(|p| p.display().to_string())
    .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CDP_E2E_BROWSER").as_deref() != Ok("required"),
        "missing {missing:?}, and CDP_E2E_BROWSER=required"
    );
    eprintln!("skipped: missing {missing:?} (see e2e-tests/README.md)");
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_does_the_everyday_work_in_the_console_in_chromium() {
    if !browser_ready() {
        return;
    }
    let server = Server::start(&suite_env());
    // People are platform-wide: new addresses each run, so that a shared PostgreSQL
    // database from an earlier run holds no account by these names.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let owner = format!("owner.{run}@console.test");
    let out = server.cdp(&["tenant", "create", "console", "--owner", &owner]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let one_time = created["owner"]["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");

    let mut command = Command::new("node");
    command
        .arg(console_dir().join("run.mjs"))
        .current_dir(console_dir())
        .env("CDP_URL", &server.base_url)
        .env("CDP_EMAIL", &owner)
        .env("CDP_MEMBER_EMAIL", format!("marketer.{run}@console.test"))
        .env("CDP_ONE_TIME_PASSWORD", &one_time)
        .env("CDP_NEW_PASSWORD", NEW_PASSWORD)
        .env("CDP_SCREENSHOTS", &shots)
        .env("CDP_CHROMIUM", chromium());
    let output = tokio::task::spawn_blocking(move || command.output().expect("run node"))
        .await
        .unwrap();
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the browser test failed (screenshots in {}):\n{said}\n{}",
        shots.display(),
        server.log()
    );
    assert!(said.contains("every step held"), "{said}");
    eprintln!("{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_with_a_strict_content_security_policy() {
    let server = Server::start(&suite_env());
    for path in ["/console", "/console/app.js", "/console/console.css"] {
        let response = http().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body = response.text().await.unwrap();
        if path == "/console" {
            // No inline script or style: the policy would refuse it anyway.
            assert!(
                !body.contains("<script>") && !body.contains("style="),
                "{body}"
            );
        }
    }
}
