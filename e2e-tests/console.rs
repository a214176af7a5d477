//! The console in a real headless Chromium (Debian's `chromium`, driven by Playwright from
//! `e2e-tests/console/run.mjs`): a new owner signs in with a one-time password and chooses
//! their own, creates a source and watches its live debugger, makes and revokes an API
//! key, adds a marketer, sets up a destination (test delivery, dead letters, replay),
//! sends events, finds the profile (a trait that holds markup is shown as text and runs
//! nothing), builds a segment in the visual form and sees its size, exports its members,
//! defines a computed trait, reads the overview's charts, downloads an access export and
//! carries out an erasure with its receipt verified; the marketer sees only their role's
//! sections; a platform admin creates, suspends and limits a workspace. Screenshots of
//! each step go to `target/console-screenshots`.
//! Also, without a browser: the console's files carry a strict Content-Security-Policy.
//!
//! The browser test needs `npm ci` in e2e-tests/console and /usr/bin/chromium (`.ci/run`
//! installs both). Without them it says so and passes, unless CDP_E2E_BROWSER=required, as
//! in CI, where their absence fails it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::destinations::quick;
use crate::helpers::{Server, http, isolated_env, suite_env};

const NEW_PASSWORD: &str = "Console-Passw0rd-of-the-test";

fn console_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e-tests/console")
}

/// A browser's executable: the environment's choice, or Debian's package.
fn browser(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

fn chromium() -> PathBuf {
    browser("CDP_CHROMIUM", "/usr/bin/chromium")
}

fn firefox() -> PathBuf {
    browser("CDP_FIREFOX", "/usr/bin/firefox-esr")
}

/// Whether the browser and its driver are installed; absent ones fail the test in CI.
fn ready(browser: &Path, driver: &str) -> bool {
    let missing: Vec<String> = [
        console_dir().join("node_modules").join(driver),
        browser.to_owned(),
    ]
    .into_iter()
    .filter(|p| !p.exists())
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

/// The run's own address: people are platform-wide, so a shared PostgreSQL database from
/// an earlier run must hold no account by this name.
fn address(who: &str) -> String {
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{who}.{run}@console.test")
}

/// Runs `cdp` with `args` and answers what it printed (JSON).
fn cdp_json(server: &Server, args: &[&str]) -> Value {
    let out = server.cdp(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A new workspace's owner: their address and one-time password.
fn new_owner(server: &Server, workspace: &str) -> (String, String) {
    let owner = address("owner");
    let created = cdp_json(server, &["tenant", "create", workspace, "--owner", &owner]);
    let one_time = created["owner"]["one_time_password"].as_str().unwrap();
    (owner, one_time.to_owned())
}

/// Runs a browser script of `e2e-tests/console` against `server` with `env`; it must say
/// that every step held.
async fn run_script(server: &Server, script: &str, env: &[(&str, String)]) {
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    let mut command = Command::new("node");
    command
        .arg(console_dir().join(script))
        .current_dir(console_dir())
        .env("CDP_URL", &server.base_url)
        .env("CDP_NEW_PASSWORD", NEW_PASSWORD)
        .env("CDP_SCREENSHOTS", &shots)
        .env("CDP_CHROMIUM", chromium())
        .env("CDP_FIREFOX", firefox());
    for (name, value) in env {
        command.env(name, value);
    }
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
        "{script} failed (screenshots in {}):\n{said}\n{}",
        shots.display(),
        server.log()
    );
    assert!(said.contains("every step held"), "{said}");
    eprintln!("{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_does_the_everyday_work_in_the_console_in_chromium() {
    if !ready(&chromium(), "playwright-core") {
        return;
    }
    // Deliveries to the test's local receiver, dead within seconds; a database of its own,
    // so that no other test's server (whose dispatcher refuses the loopback address) takes
    // its deliveries.
    let server = Server::start(&quick(isolated_env().await));
    let (owner, one_time) = new_owner(&server, "console");
    let admin = address("admin");
    let made = cdp_json(&server, &["admin", "create", &admin]);
    let admin_one_time = made["one_time_password"].as_str().unwrap().to_owned();
    run_script(
        &server,
        "run.mjs",
        &[
            ("CDP_EMAIL", owner),
            ("CDP_ONE_TIME_PASSWORD", one_time),
            ("CDP_MEMBER_EMAIL", address("marketer")),
            ("CDP_ADMIN_EMAIL", admin),
            ("CDP_ADMIN_ONE_TIME_PASSWORD", admin_one_time),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_firefox() {
    if !ready(&firefox(), "puppeteer-core") {
        return;
    }
    let server = Server::start(&suite_env());
    let (owner, one_time) = new_owner(&server, "firefox");
    run_script(
        &server,
        "firefox.mjs",
        &[("CDP_EMAIL", owner), ("CDP_ONE_TIME_PASSWORD", one_time)],
    )
    .await;
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
