use crate::helpers::{Server, http, suite_env};

#[tokio::test]
async fn serve_with_no_configuration_keeps_its_data_in_sqlite_under_data() {
    let server = Server::start(&[]);
    let health = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
    assert_eq!(body["redis"], "disabled");

    assert!(server.dir.join("data/cdp.sqlite3").exists());
    assert!(server.dir.join("data/master.key").exists());
    let log = server.log();
    assert!(
        log.contains("generated a new one"),
        "no warning about the generated master key:\n{log}"
    );
    assert!(
        !log.contains(
            std::fs::read_to_string(server.dir.join("data/master.key"))
                .unwrap()
                .trim()
        ),
        "the master key was logged"
    );
}

#[tokio::test]
async fn cdp_data_dir_moves_the_data() {
    let elsewhere = tempfile::tempdir().unwrap();
    let env = vec![(
        "CDP_DATA_DIR".to_owned(),
        elsewhere.path().display().to_string(),
    )];
    let server = Server::start(&env);
    assert_eq!(
        http()
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(elsewhere.path().join("cdp.sqlite3").exists());
    assert!(!server.dir.join("data").exists());
}

#[tokio::test]
async fn readiness_follows_the_suite_storage_and_redis() {
    let server = Server::start(&suite_env());
    let ready = http().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
    let expected_redis = if std::env::var("REDIS_URL").is_ok() {
        "up"
    } else {
        "disabled"
    };
    assert_eq!(body["redis"], expected_redis);
}

#[tokio::test]
async fn readiness_fails_while_configured_redis_does_not_answer() {
    // Nothing listens on port 1; the process still starts and stays alive.
    let env = vec![("REDIS_URL".to_owned(), "redis://127.0.0.1:1".to_owned())];
    let server = Server::start(&env);
    assert_eq!(
        http()
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready = http().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["redis"], "down");
    assert_eq!(body["database"], "up");
}

#[tokio::test]
async fn unknown_paths_answer_a_json_404() {
    let server = Server::start(&suite_env());
    let response = http()
        .get(server.url("/no/such/thing"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert!(body["message"].is_string());
}
