//! Key material never leaves the process by the wrong door: not in its log (at debug level,
//! libraries included), not in an error answer, not in a failed start's message. The test
//! uses every kind of secret the platform holds or is shown (master key, passwords, API and
//! write keys, access and refresh tokens, webhook signing secrets, the metrics token) and
//! then looks for each, whole and in part, in everything it was told.

use serde_json::{Value, json};

use crate::access::{call, first_session};
use crate::helpers::{Server, isolated_env, random_master_key, run_cdp};

/// The secret itself and its longest parts worth finding: a leak of half a key is a leak.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    if secret.len() >= 24 {
        forms.push(secret[..secret.len() / 2].to_owned());
        forms.push(secret[secret.len() / 2..].to_owned());
    }
    forms
}

/// A key of the same shape with its last character changed: what a client with a typo, or
/// an attacker guessing, sends.
fn near_miss(key: &str) -> String {
    let mut near = key[..key.len() - 1].to_owned();
    near.push(if key.ends_with('A') { 'B' } else { 'A' });
    near
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_material_appears_in_logs_answers_or_start_up_errors() {
    let master_key = random_master_key();
    let admin_password = "correct-horse-battery-staple-41";
    let metrics_token = "metrics-token-that-must-stay-hidden";
    // A database of its own: the first platform admin is made only where there is none.
    let mut env = isolated_env().await;
    env.retain(|(k, _)| k != "CDP_MASTER_KEY");
    for (k, v) in [
        ("CDP_MASTER_KEY", master_key.as_str()),
        ("CDP_ADMIN_EMAIL", "root@secrets.test"),
        ("CDP_ADMIN_PASSWORD", admin_password),
        ("CDP_METRICS_TOKEN", metrics_token),
        ("CDP_LOG_FORMAT", "json"),
        ("RUST_LOG", "debug"),
        ("CDP_DESTINATIONS_ALLOWED_NETWORKS", "127.0.0.1"),
    ] {
        env.push((k.into(), v.into()));
    }
    let server = Server::start(&env);
    let mut secrets: Vec<(&str, String)> = vec![
        ("master key", master_key.clone()),
        ("admin password", admin_password.into()),
        ("metrics token", metrics_token.into()),
    ];
    let mut answers: Vec<Value> = Vec::new();

    // A workspace with an owner who signs in (one-time password, then a chosen one).
    let out = server.cdp(&[
        "tenant",
        "create",
        "secrets",
        "--owner",
        "owner@secrets.test",
    ]);
    assert!(out.status.success());
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let one_time = created["owner"]["one_time_password"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = first_session(&server, "owner@secrets.test", &one_time, None).await;
    let access = session["access_token"].as_str().unwrap().to_owned();
    let refresh = session["refresh_token"].as_str().unwrap().to_owned();
    let write_key = created["write_key"].as_str().unwrap().to_owned();
    let api_key = created["api_key"].as_str().unwrap().to_owned();
    secrets.push(("one-time password", one_time));
    secrets.push(("access token", access.clone()));
    secrets.push(("refresh token", refresh.clone()));
    secrets.push(("write key", write_key.clone()));
    secrets.push(("API key", api_key.clone()));

    // The platform admin signs in, and fails to once.
    let login = |password: &str| json!({"email": "root@secrets.test", "password": password});
    for password in [admin_password, "correct-horse-battery-staple-42"] {
        let response = crate::helpers::http()
            .post(server.url("/v1/auth/login"))
            .json(&login(password))
            .send()
            .await
            .unwrap();
        answers.push(response.json().await.unwrap_or(Value::Null));
    }
    secrets.push((
        "wrong admin password",
        "correct-horse-battery-staple-42".into(),
    ));

    // A new API key, a destination with its signing secret, and that secret rotated.
    let (status, key) = call(
        &server,
        "POST",
        "/v1/keys",
        &access,
        Some(&json!({"name": "etl", "scopes": ["events:read"]})),
    )
    .await;
    assert_eq!(status, 201, "{key}");
    secrets.push(("created API key", key["key"].as_str().unwrap().to_owned()));
    let (status, destination) = call(
        &server,
        "POST",
        "/v1/destinations",
        &api_key,
        Some(
            &json!({"name": "crm", "url": "http://127.0.0.1:9/hook", "purpose": "marketing",
                     "receives": {"events": true}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{destination}");
    secrets.push((
        "signing secret",
        destination["signing_secret"].as_str().unwrap().to_owned(),
    ));
    let (status, rotated) = call(
        &server,
        "POST",
        &format!(
            "/v1/destinations/{}/secret",
            destination["id"].as_str().unwrap()
        ),
        &api_key,
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    secrets.push((
        "rotated signing secret",
        rotated["signing_secret"].as_str().unwrap().to_owned(),
    ));

    // Ingestion with the write key, and with near misses of every key.
    let (status, _) = server
        .track(
            &crate::helpers::Tenant {
                id: String::new(),
                write_key: write_key.clone(),
                api_key: api_key.clone(),
            },
            "/v1/track",
            &json!({"userId": "u", "event": "Tick"}),
        )
        .await;
    assert_eq!(status, 200);
    for key in [&write_key, &api_key, &access, &refresh] {
        let near = near_miss(key);
        let (status, body) = call(&server, "GET", "/v1/tenant", &near, None).await;
        assert_eq!(status, 401, "{body}");
        answers.push(body);
        let response = crate::helpers::http()
            .post(server.url("/v1/track"))
            .basic_auth(&near, Some(""))
            .json(&json!({"userId": "u", "event": "Tick"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        answers.push(response.json().await.unwrap_or(Value::Null));
        secrets.push(("a near miss", near));
    }
    let response = crate::helpers::http()
        .post(server.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": near_miss(&refresh) }))
        .send()
        .await
        .unwrap();
    answers.push(response.json().await.unwrap_or(Value::Null));
    let response = crate::helpers::http()
        .get(server.url("/metrics"))
        .bearer_auth(near_miss(metrics_token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    answers.push(response.json().await.unwrap_or(Value::Null));
    secrets.push(("metrics near miss", near_miss(metrics_token)));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let log = server.log();
    let answered: String = answers.iter().map(Value::to_string).collect();
    for (what, secret) in &secrets {
        for form in forms(secret) {
            assert!(!log.contains(&form), "the log holds the {what}");
            assert!(!answered.contains(&form), "an answer holds the {what}");
        }
    }

    // A start that fails on its storage or Redis settings names the problem, not the
    // password in the URL.
    let dir = tempfile::tempdir().unwrap();
    for (name, url) in [
        (
            "DATABASE_URL",
            "postgres://cdp:pg-password-never-shown@127.0.0.1:1/cdp",
        ),
        (
            "DATABASE_URL",
            "postgres://cdp:pg-password-never-shown@[not a host/cdp",
        ),
    ] {
        let failed = run_cdp(
            dir.path(),
            &[
                (name.into(), url.into()),
                ("CDP_MASTER_KEY".into(), master_key.clone()),
            ],
            &["serve"],
        );
        assert!(!failed.status.success(), "{url} started");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&failed.stdout),
            String::from_utf8_lossy(&failed.stderr)
        );
        assert!(!said.contains("pg-password-never-shown"), "{said}");
        assert!(!said.contains(&master_key), "{said}");
        assert!(
            said.contains("database") || said.contains("DATABASE_URL"),
            "{said}"
        );
    }
    let redis = Server::start(&[
        (
            "REDIS_URL".into(),
            "redis://:redis-password-never-shown@127.0.0.1:1".into(),
        ),
        ("RUST_LOG".into(), "debug".into()),
    ]);
    let (status, _) = crate::helpers::get_json(&redis, "/readyz").await;
    assert_eq!(status, 200);
    assert!(!redis.log().contains("redis-password-never-shown"));
}
