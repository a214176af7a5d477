use crate::helpers::{run_cdp, suite_env};

#[test]
fn tenant_create_prints_the_tenant_and_its_keys_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cdp(dir.path(), &suite_env(), &["tenant", "create", "acme"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "stdout holds more than the JSON object: {stdout}"
    );
    let created: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(created["tenant_id"].as_str().unwrap().starts_with("ten_"));
    assert!(
        created["write_key"]
            .as_str()
            .unwrap()
            .starts_with("cdp_wk_")
    );
    assert!(created["api_key"].as_str().unwrap().starts_with("cdp_sk_"));
    assert_eq!(created["name"], "acme");

    // Secrets go to stdout once, never to the log.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains(created["api_key"].as_str().unwrap()));
    assert!(!stderr.contains(created["write_key"].as_str().unwrap()));

    let again = run_cdp(dir.path(), &suite_env(), &["tenant", "create", "acme"]);
    let second: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_ne!(
        second["tenant_id"], created["tenant_id"],
        "each call creates a new tenant"
    );
}

#[test]
fn tenant_create_refuses_an_empty_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cdp(dir.path(), &suite_env(), &["tenant", "create", "   "]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tenant name"));
    assert!(out.stdout.is_empty());
}

#[test]
fn migrate_can_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = run_cdp(dir.path(), &suite_env(), &["migrate"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_bad_setting_fails_start_up_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("CDP_HTTP_ADDR".to_owned(), "not-an-address".to_owned())];
    let out = run_cdp(dir.path(), &env, &["serve"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("http_addr"), "{stderr}");
}

#[test]
fn postgres_without_a_master_key_refuses_to_start() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("skipped: needs DATABASE_URL (the PostgreSQL run of the suite covers it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("DATABASE_URL".to_owned(), url)];
    let out = run_cdp(dir.path(), &env, &["migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CDP_MASTER_KEY"));
    assert!(!dir.path().join("data/master.key").exists());
}

#[test]
fn a_malformed_master_key_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![("CDP_MASTER_KEY".to_owned(), "c2hvcnQ=".to_owned())];
    let out = run_cdp(dir.path(), &env, &["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master key"), "{stderr}");
    assert!(!stderr.contains("c2hvcnQ="));
}
