//! Workspaces, members, roles and credentials, end to end: the permission matrix walked
//! endpoint by endpoint and role by role, another tenant's credentials against every
//! resource, platform administration, revocation and suspension.

use cdp_api::endpoints::{ENDPOINTS, Guard};
use cdp_domain::{Permission, Role};
use serde_json::{Value, json};

use crate::helpers::{Server, Tenant, http, suite_env};

const PASSWORD: &str = "Granite-Harbor-2026!";
/// Well-formed ids that exist nowhere.
const NO_USER: &str = "usr_0190000000007000800000000000dead";
const NO_CREDENTIAL: &str = "cred_0190000000007000800000000000dead";
const NO_SOURCE: &str = "src_0190000000007000800000000000dead";

pub(crate) async fn call(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http().request(method, server.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(server: &Server, path: &str, body: &Value) -> (u16, Value) {
    let response = http()
        .post(server.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Signs in with a one-time password, chooses a real one, and signs in again: the access
/// token.
async fn first_sign_in(
    server: &Server,
    email: &str,
    one_time: &str,
    tenant: Option<&str>,
) -> String {
    let session = first_session(server, email, one_time, tenant).await;
    session["access_token"].as_str().unwrap().to_owned()
}

/// [`first_sign_in`], with the whole session (refresh token included).
pub(crate) async fn first_session(
    server: &Server,
    email: &str,
    one_time: &str,
    tenant: Option<&str>,
) -> Value {
    let mut login = json!({"email": email, "password": one_time});
    if let Some(tenant) = tenant {
        login["tenant_id"] = json!(tenant);
    }
    let (status, session) = post(server, "/v1/auth/login", &login).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["password_change_required"], true);
    let token = session["access_token"].as_str().unwrap();
    // Nothing but changing the password works first.
    assert_eq!(call(server, "GET", "/v1/tenant", token, None).await.0, 403);
    let change = json!({"current_password": one_time, "new_password": PASSWORD});
    let (status, body) = call(server, "POST", "/v1/auth/password", token, Some(&change)).await;
    assert_eq!(status, 204, "{body}");
    login["password"] = json!(PASSWORD);
    let (status, session) = post(server, "/v1/auth/login", &login).await;
    assert_eq!(status, 200, "{session}");
    session
}

/// A new platform admin, made by `cdp admin create` and signed in: the access token.
pub(crate) async fn platform_admin(server: &Server) -> String {
    let email = format!("root.{}@platform.test", uuid_like());
    let out = server.cdp(&["admin", "create", &email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    first_sign_in(
        server,
        &email,
        created["one_time_password"].as_str().unwrap(),
        None,
    )
    .await
}

/// A tenant with a member of every role, each signed in.
struct Workspace {
    tenant: Tenant,
    tokens: Vec<(Role, String, String)>,
}

impl Workspace {
    fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, ..)| *r == role).unwrap().1
    }

    fn user(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, ..)| *r == role).unwrap().2
    }
}

async fn workspace(server: &Server, name: &str) -> Workspace {
    let suffix = uuid_like();
    let owner_email = format!("owner.{suffix}@{name}.test");
    let out = server.cdp(&["tenant", "create", name, "--owner", &owner_email]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tenant = Tenant {
        id: created["tenant_id"].as_str().unwrap().to_owned(),
        write_key: created["write_key"].as_str().unwrap().to_owned(),
        api_key: created["api_key"].as_str().unwrap().to_owned(),
    };
    let owner_token = first_sign_in(
        server,
        &owner_email,
        created["owner"]["one_time_password"].as_str().unwrap(),
        None,
    )
    .await;
    let mut tokens = vec![(
        Role::Owner,
        owner_token.clone(),
        created["owner"]["user_id"].as_str().unwrap().to_owned(),
    )];
    for role in [Role::Admin, Role::Marketer, Role::Analyst, Role::Compliance] {
        let email = format!("{}.{suffix}@{name}.test", role.as_str());
        let (status, invited) = call(
            server,
            "POST",
            "/v1/members",
            &owner_token,
            Some(&json!({"email": email, "role": role.as_str()})),
        )
        .await;
        assert_eq!(status, 201, "{invited}");
        let token = first_sign_in(
            server,
            &email,
            invited["one_time_password"].as_str().unwrap(),
            None,
        )
        .await;
        tokens.push((role, token, invited["user_id"].as_str().unwrap().to_owned()));
    }
    Workspace { tenant, tokens }
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// A request for an endpoint that does nothing harmful when allowed: mutations name ids
/// that do not exist or carry a value the handler refuses after checking permissions.
fn probe(path: &str, method: &str, source: &str, import: &str) -> (String, Option<Value>) {
    let path = path
        .replace("{user_id}", NO_USER)
        .replace("{credential_id}", NO_CREDENTIAL)
        .replace("{import_id}", import)
        .replace("{profile}", "user_id:nobody")
        .replace(
            "{source_id}",
            if method == "POST" { NO_SOURCE } else { source },
        );
    let body = match (method, path.as_str()) {
        ("POST", "/v1/members") => Some(json!({"email": "not an address", "role": "analyst"})),
        ("PATCH", _) => Some(json!({"role": "analyst"})),
        ("POST", "/v1/keys") => Some(json!({"name": "", "scopes": ["events:read"]})),
        ("POST", "/v1/sources") => Some(json!({"name": "", "kind": "tracking"})),
        ("POST", p) if p.ends_with("/keys") => Some(json!({})),
        ("POST", "/v1/profiles/search") => {
            Some(json!({"conditions": [{"trait": "plan", "op": "exists"}]}))
        }
        ("PUT", "/v1/identity-rules") => Some(json!({"merge": ["no_such_type"]})),
        _ => None,
    };
    let path = if path == "/v1/imports" && method == "POST" {
        "/v1/imports?format=bogus".to_owned()
    } else {
        path
    };
    (path, body)
}

pub(crate) async fn an_import(server: &Server, api_key: &str) -> String {
    let response = http()
        .post(server.url("/v1/imports?format=ndjson"))
        .bearer_auth(api_key)
        .body(r#"{"type":"track","userId":"u","event":"Imported"}"#)
        .send()
        .await
        .unwrap();
    let job: Value = response.json().await.unwrap();
    job["id"].as_str().unwrap().to_owned()
}

async fn default_source(server: &Server, api_key: &str) -> String {
    let (_, sources) = call(server, "GET", "/v1/sources", api_key, None).await;
    sources["sources"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_gets_exactly_what_the_matrix_gives_it() {
    let server = Server::start(&suite_env());
    let a = workspace(&server, "alpha").await;
    let source = default_source(&server, &a.tenant.api_key).await;
    let import = an_import(&server, &a.tenant.api_key).await;
    let (status, scoped) = call(
        &server,
        "POST",
        "/v1/keys",
        &a.tenant.api_key,
        Some(&json!({"name": "reader", "scopes": ["events:read"]})),
    )
    .await;
    assert_eq!(status, 201);
    let scoped_key = scoped["key"].as_str().unwrap().to_owned();

    let mut checked = 0;
    for endpoint in ENDPOINTS {
        let Guard::Tenant(permission) = endpoint.guard else {
            continue;
        };
        let (path, body) = probe(endpoint.path, endpoint.method, &source, &import);
        for role in Role::ALL {
            let (status, answer) = call(
                &server,
                endpoint.method,
                &path,
                a.token(role),
                body.as_ref(),
            )
            .await;
            if role.allows(permission) {
                assert!(
                    status != 401 && status != 403,
                    "{role} {} {path}: {status} {answer}",
                    endpoint.method
                );
            } else {
                assert_eq!(
                    status, 403,
                    "{role} {} {path} should be refused: {answer}",
                    endpoint.method
                );
                assert_eq!(answer["code"], "forbidden");
                // Refused before the body is even looked at: a malformed one changes nothing.
                let (status, _) = call(
                    &server,
                    endpoint.method,
                    &path,
                    a.token(role),
                    Some(&json!(["not", "an", "object"])),
                )
                .await;
                assert_eq!(
                    status, 403,
                    "{role} {} {path} with a malformed body",
                    endpoint.method
                );
                checked += 1;
            }
        }
        // Keys: the owner's holds everything; the scoped one only events:read.
        let (status, _) = call(
            &server,
            endpoint.method,
            &path,
            &a.tenant.api_key,
            body.as_ref(),
        )
        .await;
        assert!(
            status != 401 && status != 403,
            "owner key {} {path}: {status}",
            endpoint.method
        );
        let (status, _) = call(&server, endpoint.method, &path, &scoped_key, body.as_ref()).await;
        if permission == Permission::EventsRead {
            assert_eq!(status, 200, "scoped key {path}");
        } else {
            assert_eq!(status, 403, "scoped key {} {path}", endpoint.method);
        }
        // Nor does the write key reach any of it.
        let (status, _) = call(
            &server,
            endpoint.method,
            &path,
            &a.tenant.write_key,
            body.as_ref(),
        )
        .await;
        assert_eq!(status, 401, "write key {} {path}", endpoint.method);
    }
    assert!(checked > 30, "only {checked} refusals were checked");

    // Platform endpoints refuse every tenant credential.
    for endpoint in ENDPOINTS.iter().filter(|e| e.guard == Guard::Platform) {
        let path = endpoint.path.replace("{tenant_id}", &a.tenant.id);
        for token in a
            .tokens
            .iter()
            .map(|(_, t, _)| t.as_str())
            .chain([a.tenant.api_key.as_str()])
        {
            // A body that would not even parse: the refusal comes first.
            let (status, _) = call(
                &server,
                endpoint.method,
                &path,
                token,
                Some(&json!({"nonsense": true})),
            )
            .await;
            assert_eq!(status, 403, "{} {path}", endpoint.method);
        }
    }

    // The refusals are in the tenant's audit log.
    let (_, audit) = call(
        &server,
        "GET",
        "/v1/audit?outcome=denied&limit=1000",
        a.token(Role::Compliance),
        None,
    )
    .await;
    assert!(audit["entries"].as_array().unwrap().len() >= checked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_credentials_see_nothing_of_this_one() {
    let server = Server::start(&suite_env());
    let a = workspace(&server, "alpha").await;
    let b = workspace(&server, "beta").await;
    assert_eq!(
        server
            .track(
                &a.tenant,
                "/v1/track",
                &json!({"userId": "u1", "event": "Secret of A"})
            )
            .await
            .0,
        200
    );
    let a_source = default_source(&server, &a.tenant.api_key).await;
    let a_import = an_import(&server, &a.tenant.api_key).await;
    let (_, a_keys) = call(&server, "GET", "/v1/keys", &a.tenant.api_key, None).await;
    let a_credential = a_keys["keys"][0]["id"].as_str().unwrap().to_owned();
    let a_user = a.user(Role::Analyst).to_owned();

    // B's owner, by token and by key, against A's resources by id: not found.
    for credential in [b.token(Role::Owner), b.tenant.api_key.as_str()] {
        for (method, path, body) in [
            ("GET", format!("/v1/sources/{a_source}"), None),
            (
                "POST",
                format!("/v1/sources/{a_source}/keys"),
                Some(json!({})),
            ),
            ("GET", format!("/v1/imports/{a_import}"), None),
            (
                "PATCH",
                format!("/v1/members/{a_user}"),
                Some(json!({"role": "admin"})),
            ),
            ("DELETE", format!("/v1/members/{a_user}"), None),
            ("DELETE", format!("/v1/keys/{a_credential}"), None),
        ] {
            let (status, answer) = call(&server, method, &path, credential, body.as_ref()).await;
            assert_eq!(status, 404, "{method} {path}: {answer}");
        }
        // Listings hold B's things only.
        for path in [
            "/v1/members",
            "/v1/keys",
            "/v1/sources",
            "/v1/events",
            "/v1/imports",
            "/v1/audit?limit=1000",
            "/v1/tenant",
        ] {
            let (status, listing) = call(&server, "GET", path, credential, None).await;
            assert_eq!(status, 200, "{path}");
            let text = listing.to_string();
            for secret in [
                a.tenant.id.as_str(),
                &a_source,
                &a_import,
                &a_credential,
                &a_user,
                "Secret of A",
            ] {
                assert!(!text.contains(secret), "{path} shows A's {secret}");
            }
        }
    }
    // A's things are still there, untouched.
    let (_, members) = call(&server, "GET", "/v1/members", a.token(Role::Owner), None).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 5);
    // The tracked event and the imported one.
    assert_eq!(server.events(&a.tenant).await.len(), 2);
    // Signing in to a workspace one does not belong to fails like a wrong password.
    let (status, _) = post(
        &server,
        "/v1/auth/login",
        &json!({"email": "x@y.test", "password": PASSWORD, "tenant_id": a.tenant.id}),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_rules_keep_owners_safe_and_keys_revoke_at_once() {
    let server = Server::start(&suite_env());
    let a = workspace(&server, "alpha").await;
    let admin = a.token(Role::Admin);
    let owner_id = a.user(Role::Owner).to_owned();

    // Admins manage members but not owners, and cannot make owners.
    assert_eq!(
        call(
            &server,
            "PATCH",
            &format!("/v1/members/{owner_id}"),
            admin,
            Some(&json!({"role": "analyst"}))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/members/{owner_id}"),
            admin,
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(
            &server,
            "POST",
            "/v1/members",
            admin,
            Some(&json!({"email": "new.owner@alpha.test", "role": "owner"}))
        )
        .await
        .0,
        403
    );
    let marketer = a.user(Role::Marketer).to_owned();
    assert_eq!(
        call(
            &server,
            "PATCH",
            &format!("/v1/members/{marketer}"),
            admin,
            Some(&json!({"role": "analyst"}))
        )
        .await
        .0,
        200
    );
    // The old token of the demoted member stops working at once.
    assert_eq!(
        call(&server, "GET", "/v1/tenant", a.token(Role::Marketer), None)
            .await
            .0,
        401
    );
    // The last owner stays.
    let owner = a.token(Role::Owner);
    let (status, answer) = call(
        &server,
        "PATCH",
        &format!("/v1/members/{owner_id}"),
        owner,
        Some(&json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    // A removed member is out at once.
    let analyst = a.user(Role::Analyst).to_owned();
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/members/{analyst}"),
            admin,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        call(&server, "GET", "/v1/tenant", a.token(Role::Analyst), None)
            .await
            .0,
        401
    );

    // Keys: shown once, listed by prefix, no more scopes than their creator, revoked at once.
    let (status, _) = call(
        &server,
        "POST",
        "/v1/keys",
        admin,
        Some(&json!({"name": "too much", "scopes": ["privacy:write"]})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, created) = call(
        &server,
        "POST",
        "/v1/keys",
        admin,
        Some(&json!({"name": "etl", "scopes": ["events:read", "sources:read"]})),
    )
    .await;
    assert_eq!(status, 201);
    let key = created["key"].as_str().unwrap().to_owned();
    let (_, listed) = call(
        &server,
        "GET",
        &format!("/v1/keys?prefix={}", &key[..12]),
        admin,
        None,
    )
    .await;
    let listed = listed["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        !listed[0].to_string().contains(&key),
        "a listing shows a secret"
    );
    assert_eq!(call(&server, "GET", "/v1/events", &key, None).await.0, 200);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        call(&server, "DELETE", &format!("/v1/keys/{id}"), admin, None)
            .await
            .0,
        204
    );
    assert_eq!(call(&server, "GET", "/v1/events", &key, None).await.0, 401);

    // A write key, revoked, stops ingesting on the next request.
    let source = default_source(&server, admin).await;
    let (status, write) = call(
        &server,
        "POST",
        &format!("/v1/sources/{source}/keys"),
        admin,
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let write_key = write["write_key"].as_str().unwrap().to_owned();
    let track_url = server.url("/v1/track");
    let send = |key: String| {
        let url = track_url.clone();
        async move {
            http()
                .post(url)
                .basic_auth(key, Some(""))
                .json(&json!({"userId": "u", "event": "e"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(send(write_key.clone()).await, 200);
    let write_id = write["id"].as_str().unwrap();
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/keys/{write_id}"),
            admin,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(send(write_key).await, 401);

    // Weak passwords are refused with a reason.
    let (status, answer) = call(
        &server,
        "POST",
        "/v1/auth/password",
        owner,
        Some(&json!({"current_password": PASSWORD, "new_password": "password1234"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(answer["code"], "weak_password");
    assert!(answer["message"].as_str().unwrap().contains("common"));

    // Every change above is in the audit log, and the chain verifies.
    let (_, audit) = call(
        &server,
        "GET",
        "/v1/audit?limit=1000",
        a.token(Role::Compliance),
        None,
    )
    .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "member.add",
        "member.role",
        "member.remove",
        "key.create",
        "key.revoke",
        "source.key.create",
        "auth.login",
    ] {
        assert!(actions.contains(&action), "no {action} in {actions:?}");
    }
    let (_, verified) = call(&server, "GET", "/v1/audit/verify", owner, None).await;
    assert_eq!(verified["valid"], true, "{verified}");
    assert!(
        !audit.to_string().contains("@alpha.test"),
        "the audit log holds e-mail addresses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_admins_manage_workspaces() {
    let server = Server::start(&suite_env());
    let admin = platform_admin(&server).await;

    let (status, tenant) = call(
        &server,
        "POST",
        "/v1/admin/tenants",
        &admin,
        Some(&json!({"name": "gamma"})),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    let id = tenant["tenant_id"].as_str().unwrap().to_owned();
    let gamma = Tenant {
        id: id.clone(),
        write_key: tenant["write_key"].as_str().unwrap().to_owned(),
        api_key: tenant["api_key"].as_str().unwrap().to_owned(),
    };
    assert_eq!(
        server
            .track(&gamma, "/v1/track", &json!({"userId": "u", "event": "e"}))
            .await
            .0,
        200
    );
    // A platform token does not read tenant data.
    assert_eq!(
        call(&server, "GET", "/v1/events", &admin, None).await.0,
        403
    );

    let (status, _) = call(
        &server,
        "PATCH",
        &format!("/v1/admin/tenants/{id}"),
        &admin,
        Some(&json!({"name": "gamma corp"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, quotas) = call(
        &server,
        "PUT",
        &format!("/v1/admin/tenants/{id}/quotas"),
        &admin,
        Some(&json!({"events_per_second": 50, "storage_bytes": 10_000_000})),
    )
    .await;
    assert_eq!(status, 200, "{quotas}");
    assert_eq!(quotas["burst"], 100);

    // Suspended: every key of the workspace answers 403; resumed, they work again.
    assert_eq!(
        call(
            &server,
            "PATCH",
            &format!("/v1/admin/tenants/{id}"),
            &admin,
            Some(&json!({"status": "suspended"}))
        )
        .await
        .0,
        200
    );
    let (status, answer) = server
        .track(&gamma, "/v1/track", &json!({"userId": "u", "event": "e"}))
        .await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = call(&server, "GET", "/v1/events", &gamma.api_key, None).await;
    assert_eq!(status, 403);
    assert_eq!(answer["code"], "suspended");
    assert_eq!(
        call(
            &server,
            "PATCH",
            &format!("/v1/admin/tenants/{id}"),
            &admin,
            Some(&json!({"status": "active"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        server
            .track(&gamma, "/v1/track", &json!({"userId": "u", "event": "e"}))
            .await
            .0,
        200
    );

    // Deletion needs the explicit confirmation, then destroys the keys.
    let (status, answer) = call(
        &server,
        "DELETE",
        &format!("/v1/admin/tenants/{id}"),
        &admin,
        Some(&json!({"confirm": "yes"})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/v1/admin/tenants/{id}"),
            &admin,
            None
        )
        .await
        .0,
        400
    );
    let (status, answer) = call(
        &server,
        "DELETE",
        &format!("/v1/admin/tenants/{id}"),
        &admin,
        Some(&json!({"confirm": id})),
    )
    .await;
    assert_eq!(status, 200, "{answer}\n{}", server.log());
    assert_eq!(answer["keys_shredded"], true);
    assert_eq!(
        call(&server, "GET", "/v1/events", &gamma.api_key, None)
            .await
            .0,
        401
    );
    assert_eq!(
        server
            .track(&gamma, "/v1/track", &json!({"userId": "u", "event": "e"}))
            .await
            .0,
        401
    );
    let (_, listed) = call(&server, "GET", "/v1/admin/tenants", &admin, None).await;
    let gone = listed["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap();
    assert_eq!(gone["status"], "deleted");
    // Its profiles are removed in the background, and the workspace shows how far that is.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, shown) = call(
            &server,
            "GET",
            &format!("/v1/admin/tenants/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, 200, "{shown}");
        let purge = &shown["purge"];
        assert!(
            purge["status"] == "in_progress" || purge["status"] == "done",
            "{shown}"
        );
        if purge["status"] == "done" {
            assert_eq!(purge["profiles_left"], 0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the purge never finished: {shown}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Rotating the signing key logs nobody out.
    assert_eq!(
        call(&server, "POST", "/v1/admin/signing-keys", &admin, None)
            .await
            .0,
        201
    );
    assert_eq!(
        call(&server, "GET", "/v1/admin/tenants", &admin, None)
            .await
            .0,
        200
    );

    let (_, audit) = call(&server, "GET", "/v1/admin/audit?limit=1000", &admin, None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "tenant.create",
        "tenant.rename",
        "tenant.quotas",
        "tenant.suspend",
        "tenant.resume",
        "tenant.delete",
        "signing_key.rotate",
    ] {
        assert!(actions.contains(&action), "no {action} in the platform log");
    }
    let (_, verified) = call(&server, "GET", "/v1/admin/audit/verify", &admin, None).await;
    assert_eq!(verified["valid"], true, "{verified}");
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_json_error() {
    let server = Server::start(&suite_env());
    for token in [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "cdp_sk_unknown",
    ] {
        let (status, body) = call(&server, "GET", "/v1/tenant", token, None).await;
        assert_eq!(status, 401, "{token}");
        assert_eq!(body["code"], "unauthorized");
        assert!(body["message"].is_string());
    }
    let response = http().get(server.url("/v1/tenant")).send().await.unwrap();
    assert_eq!(response.status(), 401);
}

/// A platform admin who also belongs to a workspace signs in to either: to the workspace by
/// default, to the platform when asking for it; others asking for the platform are told
/// what a wrong password gets.
#[tokio::test]
async fn a_platform_admin_in_a_workspace_chooses_the_platform_at_sign_in() {
    let server = Server::start(&suite_env());
    let a = workspace(&server, "delta").await;
    let email = format!("root.{}@platform.test", uuid_like());
    let out = server.cdp(&["admin", "create", &email]);
    assert!(out.status.success());
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    first_sign_in(
        &server,
        &email,
        created["one_time_password"].as_str().unwrap(),
        None,
    )
    .await;
    let (status, added) = call(
        &server,
        "POST",
        "/v1/members",
        a.token(Role::Owner),
        Some(&json!({"email": email, "role": "analyst"})),
    )
    .await;
    assert_eq!(status, 201, "{added}");

    let login = json!({"email": email, "password": PASSWORD});
    let (status, session) = post(&server, "/v1/auth/login", &login).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(
        session["tenant_id"],
        a.tenant.id.as_str(),
        "the one workspace"
    );
    assert_eq!(session["platform_admin"], false);

    let platform = json!({"email": email, "password": PASSWORD, "platform": true});
    let (status, session) = post(&server, "/v1/auth/login", &platform).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["platform_admin"], true);
    let token = session["access_token"].as_str().unwrap();
    assert_eq!(
        call(&server, "GET", "/v1/admin/tenants", token, None)
            .await
            .0,
        200
    );

    let both =
        json!({"email": email, "password": PASSWORD, "platform": true, "tenant_id": a.tenant.id});
    assert_eq!(post(&server, "/v1/auth/login", &both).await.0, 403);
    let (_, me) = call(&server, "GET", "/v1/auth/me", a.token(Role::Owner), None).await;
    let not_admin = json!({"email": me["email"], "password": PASSWORD, "platform": true});
    let (status, refused) = post(&server, "/v1/auth/login", &not_admin).await;
    assert_eq!(status, 401, "{refused}");
    assert_eq!(refused["message"], "wrong e-mail address or password");
}
