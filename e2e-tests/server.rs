use crate::helpers::{Server, get_json, suite_env};

#[tokio::test]
async fn serve_with_no_configuration_keeps_its_data_in_sqlite_under_data() {
    let server = Server::start(&[]);
    assert_eq!(get_json(&server, "/healthz").await.0, 200);
    let (status, ready) = get_json(&server, "/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["database"], "up");
    assert_eq!(ready["redis"], "disabled");

    assert!(server.dir.join("data/cdp.sqlite3").exists());
    let key_file = server.dir.join("data/master.key");
    assert!(key_file.exists());
    let log = server.log();
    assert!(
        log.contains("generated a new one"),
        "no warning about the generated master key:\n{log}"
    );
    let key = std::fs::read_to_string(key_file).unwrap();
    assert!(!log.contains(key.trim()), "the master key was logged");
}

#[tokio::test]
async fn cdp_data_dir_moves_the_data() {
    let elsewhere = tempfile::tempdir().unwrap();
    let env = vec![(
        "CDP_DATA_DIR".to_owned(),
        elsewhere.path().display().to_string(),
    )];
    let server = Server::start(&env);
    assert_eq!(get_json(&server, "/healthz").await.0, 200);
    assert!(elsewhere.path().join("cdp.sqlite3").exists());
    assert!(!server.dir.join("data").exists());
}

#[tokio::test]
async fn readiness_follows_the_suite_storage_and_redis() {
    let server = Server::start(&suite_env());
    let (status, ready) = get_json(&server, "/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["database"], "up");
    let expected_redis = if std::env::var("REDIS_URL").is_ok() {
        "up"
    } else {
        "disabled"
    };
    assert_eq!(ready["redis"], expected_redis);
}

#[tokio::test]
async fn readiness_says_degraded_while_configured_redis_does_not_answer() {
    // Nothing listens on port 1; the process still starts, stays alive and serves.
    let env = vec![("REDIS_URL".to_owned(), "redis://127.0.0.1:1".to_owned())];
    let server = Server::start(&env);
    assert_eq!(get_json(&server, "/healthz").await.0, 200);
    let (status, ready) = get_json(&server, "/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["redis"], "down");
    assert_eq!(ready["database"], "up");
}

#[tokio::test]
async fn unknown_paths_answer_a_json_404() {
    let server = Server::start(&suite_env());
    let (status, body) = get_json(&server, "/no/such/thing").await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "not_found");
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn the_api_document_and_its_page_are_served_without_credentials() {
    let server = Server::start(&suite_env());
    let (status, document) = get_json(&server, "/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.0.3");
    let members = &document["paths"]["/v1/members"]["post"];
    assert_eq!(members["x-permission"], "members:write");
    assert_eq!(
        members["requestBody"]["content"]["application/json"]["schema"]["required"],
        serde_json::json!(["email", "role"])
    );
    assert!(document["paths"]["/v1/batch"]["post"]["responses"]["429"].is_object());
    let page = crate::helpers::http()
        .get(server.url("/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/docs/docs.js") && !html.contains("<script>"),
        "no inline script"
    );
}
