//! Hostile input: forged and stale tokens, SQL metacharacters in every kind of string,
//! bodies built to exhaust the parser or the memory, oversized headers and clients that
//! never finish their request. Each gets a clear 4xx (or is kept as the text it is), and
//! the server goes on answering everyone else.

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::access::{call, first_session};
use crate::helpers::{Server, Tenant, get_json, http, suite_env, urlencode};
use crate::profiles::{caught_up, profile_when, send};

/// A signed-in owner of a new workspace: its tenant and the session (access and refresh
/// tokens).
async fn owner_session(server: &Server, name: &str) -> (String, Value) {
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let email = format!("owner.{unique:x}@{name}.test");
    let out = server.cdp(&["tenant", "create", name, "--owner", &email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let session = first_session(
        server,
        &email,
        created["owner"]["one_time_password"].as_str().unwrap(),
        None,
    )
    .await;
    (created["tenant_id"].as_str().unwrap().to_owned(), session)
}

fn jwt_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn jwt_decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn refused(server: &Server, token: &str, why: &str) {
    let (status, body) = call(server, "GET", "/v1/tenant", token, None).await;
    assert_eq!(status, 401, "{why}: {body}");
    assert_eq!(body["code"], "unauthorized", "{why}");
    let message = body["message"].as_str().unwrap();
    assert!(
        !message.contains(token),
        "{why}: the answer echoes the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_and_signed_out_tokens_are_refused() {
    let server = Server::start(&suite_env());
    let (tenant_a, session) = owner_session(&server, "jwt-a").await;
    let (tenant_b, _) = owner_session(&server, "jwt-b").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    let (status, body) = call(&server, "GET", "/v1/tenant", &token, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tenant_id"], tenant_a.as_str(), "{body}");

    let parts: Vec<&str> = token.split('.').collect();
    let (header, claims, signature) = (jwt_decode(parts[0]), jwt_decode(parts[1]), parts[2]);
    assert_eq!(header["alg"], "HS256");
    let resigned = |header: &Value, claims: &Value, signature: &str| {
        format!("{}.{}.{signature}", jwt_part(header), jwt_part(claims))
    };

    // Claims changed under the original signature.
    for (field, value) in [
        ("tid", json!(tenant_b)),
        ("role", json!("owner")),
        ("adm", json!(true)),
        ("exp", json!(claims["exp"].as_i64().unwrap() + 86_400)),
        ("sub", json!("usr_00000000000000000000000000000000")),
    ] {
        let mut altered = claims.clone();
        altered[field] = value;
        refused(
            &server,
            &resigned(&header, &altered, signature),
            &format!("{field} altered"),
        )
        .await;
    }
    // No signature at all, whatever the header claims.
    for alg in ["none", "None", "NONE"] {
        let mut unsigned = header.clone();
        unsigned["alg"] = json!(alg);
        refused(&server, &resigned(&unsigned, &claims, ""), alg).await;
    }
    // The same bytes offered as another algorithm, or under a key id that does not exist.
    for alg in ["HS512", "RS256", "ES256", "PS256"] {
        let mut swapped = header.clone();
        swapped["alg"] = json!(alg);
        refused(&server, &resigned(&swapped, &claims, signature), alg).await;
    }
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("k-does-not-exist");
    refused(
        &server,
        &resigned(&unknown_kid, &claims, signature),
        "unknown kid",
    )
    .await;
    let mut no_kid = header.clone();
    no_kid.as_object_mut().unwrap().remove("kid");
    refused(&server, &resigned(&no_kid, &claims, signature), "no kid").await;
    // A signature cut short, or taken from another token.
    refused(
        &server,
        &resigned(&header, &claims, &signature[..signature.len() - 4]),
        "truncated signature",
    )
    .await;

    // Signing out ends the access token too, not only the refresh token.
    let refresh = session["refresh_token"].as_str().unwrap();
    let response = http()
        .post(server.url("/v1/auth/logout"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    refused(&server, &token, "signed out").await;
    let response = http()
        .post(server.url("/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a revoked refresh token is refused");
}

/// Strings a careless query builder, a LIKE pattern or a JSON path would trip over.
const NASTY: [&str; 6] = [
    "x'); DROP TABLE events; --",
    "' OR '1'='1",
    "\"; DELETE FROM profiles; --",
    "%_\\%",
    "$.traits[*]",
    "ü\u{202e}𝕏\u{feff}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_metacharacters_in_every_string_are_kept_as_the_text_they_are() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("metachar");
    let bystander =
        json!({"type": "identify", "userId": "plain-user", "traits": {"nickname": "plain"}});
    let mut batch = vec![bystander];
    for (i, nasty) in NASTY.iter().enumerate() {
        let user = format!("{nasty}-{i}");
        batch.push(
            json!({"type": "identify", "userId": user, "anonymousId": nasty,
            "traits": {"nickname": nasty, nasty.to_string(): "key"}}),
        );
        batch.push(json!({"type": "track", "userId": user, "event": nasty,
            "properties": {"note": nasty}}));
    }
    send(&server, &tenant, batch).await;
    // NUL, which PostgreSQL's text and jsonb cannot hold, is refused where it would be
    // stored and then stop the tenant's projection: in values and in keys, at any depth.
    for (event, path) in [
        (
            json!({"type": "identify", "userId": "nul", "traits": {"note": "a\u{0}b"}}),
            "traits.note",
        ),
        (
            json!({"type": "track", "userId": "nul", "event": "Nul", "properties": {"q\u{0}": true}}),
            "properties.q\\0",
        ),
        (
            json!({"type": "track", "userId": "nul", "event": "Nul", "context": {"list": [1, "\u{0}"]}}),
            "context.list[1]",
        ),
    ] {
        let (status, answer) = server
            .track(&tenant, "/v1/batch", &json!({"batch": [event]}))
            .await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("batch[0].{path} holds the NUL character")),
            "{message}"
        );
    }
    caught_up(&server, &tenant).await;

    for (i, nasty) in NASTY.iter().enumerate() {
        let user = format!("{nasty}-{i}");
        let key = format!("user_id:{}", urlencode(&user));
        let profile = profile_when(&server, &tenant, &key, |_| true).await;
        assert_eq!(profile["traits"]["nickname"]["value"], *nasty, "{profile}");
        assert_eq!(profile["traits"][*nasty]["value"], "key", "{profile}");
        assert_eq!(profile["event_counts"][*nasty]["count"], 1, "{profile}");
        // A segment condition holding the string matches exactly the one profile.
        let text = format!(
            "trait nickname = {} and performed {}",
            quoted(nasty),
            quoted(nasty)
        );
        let (status, preview) = call(
            &server,
            "POST",
            "/v1/segments/preview",
            &tenant.api_key,
            Some(&json!({ "text": text })),
        )
        .await;
        assert_eq!(status, 200, "{text}: {preview}");
        assert_eq!(preview["size"], 1, "{text}: {preview}");
    }
    // Searching for a LIKE wildcard finds the string, not everyone.
    let (status, found) = call(
        &server,
        "POST",
        "/v1/profiles/search",
        &tenant.api_key,
        Some(&json!({"conditions": [{"trait": "nickname", "op": "contains", "value": "%_\\%"}]})),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let hits = found["profiles"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found}");
    // Every table is still there with every row.
    let events = server.events(&tenant).await;
    assert_eq!(events.len(), 1 + 2 * NASTY.len());
    profile_when(&server, &tenant, "user_id:plain-user", |p| {
        p["traits"]["nickname"]["value"] == "plain"
    })
    .await;
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

async fn post_raw(
    server: &Server,
    tenant: &Tenant,
    path: &str,
    body: Vec<u8>,
    gzip: bool,
) -> (u16, Value) {
    let mut request = http()
        .post(server.url(path))
        .basic_auth(&tenant.write_key, Some(""))
        .header("content-type", "application/json")
        .body(body);
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_built_to_hurt_get_a_clear_refusal_and_nothing_is_stored() {
    let server = Server::start(&suite_env());
    let tenant = server.create_tenant("abuse");
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let one = |event: Value| serde_json::to_vec(&json!({ "batch": [event] })).unwrap();
    let cases: Vec<(&str, Vec<u8>, bool, u16)> = vec![
        ("invalid UTF-8", b"{\"batch\":[{\"type\":\"track\",\"userId\":\"\xff\xfe\",\"event\":\"x\"}]}".to_vec(), false, 400),
        ("not JSON", b"{\"batch\": [".to_vec(), false, 400),
        ("a property nested 1,000 deep", format!("{{\"batch\":[{{\"type\":\"track\",\"userId\":\"u\",\"event\":\"x\",\"properties\":{{\"p\":{}}}}}]}}", deep(1000)).into_bytes(), false, 400),
        ("nested 100,000 deep, gzipped", gzipped(deep(100_000).as_bytes()), true, 400),
        ("an id of 2,000 bytes", one(json!({"type": "track", "userId": "u".repeat(2000), "event": "x"})), false, 400),
        ("an event of 40 KB", one(json!({"type": "track", "userId": "u", "event": "x", "properties": {"blob": "b".repeat(40_000)}})), false, 413),
        ("a body of 600 KB", vec![b' '; 600 * 1024], false, 413),
        ("a gzip bomb (64 MB of zeros)", gzipped(&vec![0u8; 64 << 20]), true, 413),
        ("gzip that is not gzip", b"\x1f\x8bnot really".to_vec(), true, 400),
        ("a batch of 3,000 events", serde_json::to_vec(&json!({"batch": vec![json!({"type": "track", "userId": "u", "event": "x"}); 3000]})).unwrap(), false, 400),
    ];
    for (what, body, gzip, expected) in cases {
        let (status, answer) = post_raw(&server, &tenant, "/v1/batch", body, gzip).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: no message in {answer}"
        );
        assert_eq!(get_json(&server, "/healthz").await.0, 200, "after {what}");
    }
    // The management API refuses its own kinds of excess.
    let api_cases = [
        (
            "segment text nested 10,000 deep",
            json!({"name": "deep", "text": format!("{}trait a = 1{}", "(".repeat(10_000), ")".repeat(10_000))}),
            400,
        ),
        (
            "segment condition nested 100 deep",
            json!({"name": "deep", "condition": (0..100).fold(json!({"trait": {"name": "a", "op": "eq", "value": 1}}), |c, _| json!({"not": c}))}),
            400,
        ),
        (
            "a segment name of 2 MB",
            json!({"name": "n".repeat(2 << 20), "text": "trait a = 1"}),
            413,
        ),
        (
            "SQL in a segment's trait name",
            json!({"name": "sql", "text": "trait \"a'; DROP TABLE segments; --\" = 1"}),
            201,
        ),
    ];
    for (what, body, expected) in api_cases {
        let (status, answer) = call(
            &server,
            "POST",
            "/v1/segments",
            &tenant.api_key,
            Some(&body),
        )
        .await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert_eq!(get_json(&server, "/healthz").await.0, 200, "after {what}");
    }
    let (status, segments) = call(&server, "GET", "/v1/segments", &tenant.api_key, None).await;
    assert_eq!(status, 200, "{segments}");
    assert_eq!(
        segments["segments"].as_array().unwrap().len(),
        1,
        "{segments}"
    );
    // Nothing of the refused bodies reached the log.
    assert!(server.events(&tenant).await.is_empty());
    // A key given twice: the last one counts, as in JavaScript's, Python's and Go's JSON
    // parsers, so the platform reads an event as the SDK that sent it meant it.
    let twice = br#"{"batch":[{"type":"track","userId":"first","userId":"last","event":"x"}]}"#;
    let (status, answer) = post_raw(&server, &tenant, "/v1/batch", twice.to_vec(), false).await;
    assert_eq!(status, 200, "{answer}");
    let events = server.events(&tenant).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["payload"]["userId"], "last", "{events:?}");
}

fn address(server: &Server) -> String {
    server.url("").trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection or `limit` passes; what it answered, and
/// whether it closed.
async fn answer_of(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into(), false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_and_clients_that_never_finish_are_cut_off() {
    let mut env = suite_env();
    env.push(("CDP_HTTP_BODY_TIMEOUT_MS".into(), "3000".into()));
    let server = Server::start(&env);
    let tenant = server.create_tenant("slow");
    let addr = address(&server);

    // A request head of 200 KB, in one header or in many.
    let many: String = (0..2000)
        .map(|i| format!("X-H{i}: {}\r\n", "a".repeat(90)))
        .collect();
    for headers in [format!("X-Big: {}\r\n", "a".repeat(200 * 1024)), many] {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        let _ = stream.write_all(request.as_bytes()).await;
        let (answer, _) = answer_of(&mut stream, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    }

    // Two hundred clients that send half a request head and then nothing, and one that
    // sends a whole head and then its body a byte a second: none of them holds a worker.
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        idle.push(stream);
    }
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", tenant.write_key))
    );
    let mut trickle = TcpStream::connect(&addr).await.unwrap();
    trickle.write_all(head.as_bytes()).await.unwrap();
    let trickling = tokio::spawn(async move {
        for _ in 0..60 {
            if trickle.write_all(b" ").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        answer_of(&mut trickle, Duration::from_secs(5)).await
    });
    let started = Instant::now();
    for _ in 0..20 {
        let (status, _) = get_json(&server, "/healthz").await;
        assert_eq!(status, 200);
    }
    let (status, answer) = server
        .track(
            &tenant,
            "/v1/track",
            &json!({"userId": "u", "event": "Still Served"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let served_in = started.elapsed();

    // The half heads are dropped once the time for a request head runs out.
    for (i, stream) in idle.iter_mut().enumerate() {
        let (answer, closed) = answer_of(stream, Duration::from_secs(30)).await;
        assert!(
            closed,
            "half-head client {i} still connected: {answer:.200}"
        );
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer:.200}"
        );
    }
    // The trickled body is cut off before its minute is up.
    let (answer, closed) = trickling.await.unwrap();
    assert!(
        closed,
        "the trickling client is still connected: {answer:.200}"
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.300}");
    assert_eq!(server.events(&tenant).await.len(), 1);
    eprintln!("others were served in {served_in:?} while 201 slow clients were connected");
}
