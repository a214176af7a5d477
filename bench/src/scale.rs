//! Figures that need a large tenant: profile lookups among a million profiles, the
//! erasure of a person with a hundred thousand events, and of a tenant holding a million.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::data::Rng;
use crate::server::{CdpServer, Tenant};

/// Sends `count` identify events, each for a person of its own (`{prefix}-{i}`, with an
/// email), in batches of 100 from `clients` concurrent clients.
pub async fn identify_people(
    server: &CdpServer,
    tenant: &Tenant,
    prefix: &str,
    count: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let prefix = prefix.to_owned();
    send_batches(server, tenant, count, clients, move |i| {
        json!({"type": "identify", "userId": format!("{prefix}-{i}"),
               "traits": {"email": format!("{prefix}-{i}@example.com"), "plan": "pro"}})
    })
    .await
}

/// Sends `count` events of one person (`userId` = `user`), an order every tenth.
pub async fn track_person(
    server: &CdpServer,
    tenant: &Tenant,
    user: &str,
    count: usize,
    clients: usize,
) -> anyhow::Result<()> {
    let user = user.to_owned();
    send_batches(server, tenant, count, clients, move |i| {
        if i % 10 == 0 {
            json!({"type": "track", "userId": user, "event": "Order Completed",
                   "properties": {"order_id": format!("o-{i}"), "total": (i % 97) as f64 + 0.5}})
        } else {
            json!({"type": "page", "userId": user, "name": "Product", "properties": {"sku": format!("S-{}", i % 500)}})
        }
    })
    .await
}

/// Sends `count` events made by `event(i)` in batches of 100 from `clients` concurrent
/// clients.
pub async fn send_batches(
    server: &CdpServer,
    tenant: &Tenant,
    count: usize,
    clients: usize,
    event: impl Fn(usize) -> Value + Clone + Send + 'static,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, next, event) = (client.clone(), next.clone(), event.clone());
        let url = format!("{}/v1/batch", server.base_url);
        let key = tenant.write_key.clone();
        tasks.spawn(async move {
            loop {
                let first = next.fetch_add(100, Ordering::Relaxed);
                if first >= count {
                    return anyhow::Ok(());
                }
                let batch: Vec<Value> = (first..(first + 100).min(count)).map(&event).collect();
                let response = client
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status() == 200,
                    "ingest answered {}",
                    response.status()
                );
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Erases one person through a data-subject request. Answers the milliseconds from the
/// request's receipt until the person was erased (keys destroyed, profile gone), and
/// until the request completed (timeline rows purged too), both by the server's clock.
pub async fn erase_subject(
    server: &CdpServer,
    tenant: &Tenant,
    user: &str,
    within: Duration,
) -> anyhow::Result<(f64, f64)> {
    let client = reqwest::Client::new();
    let request: Value = client
        .post(format!("{}/v1/privacy/requests", server.base_url))
        .bearer_auth(&tenant.api_key)
        .json(&json!({"type": "erasure", "subject": {"type": "user_id", "value": user}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = request["id"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    let done = loop {
        let shown: Value = client
            .get(format!("{}/v1/privacy/requests/{id}", server.base_url))
            .bearer_auth(&tenant.api_key)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::ensure!(shown["status"] != "failed", "the erasure failed: {shown}");
        if shown["status"] == "completed" {
            break shown;
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "the erasure did not finish: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let at = |field: &str| -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
        Ok(done[field]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no {field} in {done}"))?
            .parse()?)
    };
    let ms = |delta: chrono::TimeDelta| delta.num_microseconds().unwrap_or(0) as f64 / 1000.0;
    let (received, erased, completed) = (at("received_at")?, at("erased_at")?, at("completed_at")?);
    let profile = client
        .get(format!("{}/v1/profiles/user_id:{user}", server.base_url))
        .bearer_auth(&tenant.api_key)
        .send()
        .await?;
    anyhow::ensure!(
        profile.status() == 404,
        "the erased profile still answers {}",
        profile.status()
    );
    Ok((ms(erased - received), ms(completed - received)))
}

/// Waits until the tenant's projection has applied its whole log; answers the log head.
pub async fn caught_up(
    server: &CdpServer,
    tenant: &Tenant,
    timeout: Duration,
) -> anyhow::Result<i64> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let status: Value = client
            .get(format!("{}/v1/projection", server.base_url))
            .bearer_auth(&tenant.api_key)
            .send()
            .await?
            .json()
            .await?;
        if status["lag"] == 0 && status["log_head"].as_i64() > Some(0) {
            return Ok(status["log_head"].as_i64().unwrap_or(0));
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "projection did not catch up: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Latencies in milliseconds of looking up random people by email, and of looking the same
/// profiles up by their id (the primary key), one request at a time.
pub async fn lookups(
    server: &CdpServer,
    tenant: &Tenant,
    prefix: &str,
    people: usize,
    samples: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let client = reqwest::Client::new();
    let mut rng = Rng::new(11);
    let (mut by_identity, mut by_id) = (Vec::new(), Vec::new());
    let get = |path: String| {
        let request = client
            .get(format!("{}{path}", server.base_url))
            .bearer_auth(&tenant.api_key);
        async move {
            let started = Instant::now();
            let response = request.send().await?;
            anyhow::ensure!(
                response.status() == 200,
                "lookup answered {}",
                response.status()
            );
            let body: Value = response.json().await?;
            anyhow::Ok((started.elapsed().as_secs_f64() * 1000.0, body))
        }
    };
    for _ in 0..samples {
        let i = rng.below(people as u64);
        let (ms, profile) = get(format!("/v1/profiles/email:{prefix}-{i}@example.com")).await?;
        by_identity.push(ms);
        let id = profile["profile_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (ms, _) = get(format!("/v1/profiles/{id}")).await?;
        by_id.push(ms);
    }
    Ok((by_identity, by_id))
}

/// Deletes a tenant as a platform admin: its keys are shredded before the answer.
/// Answers the milliseconds the request took.
pub async fn erase_tenant(server: &CdpServer, token: &str, tenant: &Tenant) -> anyhow::Result<f64> {
    let id = format!("ten_{}", tenant.tenant_id.simple());
    let started = Instant::now();
    let response = reqwest::Client::new()
        .delete(format!("{}/v1/admin/tenants/{id}", server.base_url))
        .bearer_auth(token)
        .json(&json!({ "confirm": id }))
        .send()
        .await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(
        response.status() == 200,
        "deleting the tenant answered {}: {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    let live = live_tenant_keys(&crate::baseline::database_url(&server.data_dir()), tenant).await?;
    anyhow::ensure!(
        live == 0,
        "{live} tenant keys still readable after the deletion answered"
    );
    Ok(ms)
}

/// Tenant key versions that can still unwrap anything: none once the tenant is erased.
async fn live_tenant_keys(url: &str, tenant: &Tenant) -> anyhow::Result<i64> {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let db = Database::connect(url).await?;
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT COUNT(*) FROM tenant_keys WHERE tenant_id = $1 AND wrapped_key IS NOT NULL"
        }
        _ => "SELECT COUNT(*) FROM tenant_keys WHERE tenant_id = ? AND wrapped_key IS NOT NULL",
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [tenant.tenant_id.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count"))?;
    let live = row.try_get_by_index::<i64>(0)?;
    db.close().await?;
    Ok(live)
}

/// Waits until the deleted tenant's projected rows are all removed; answers milliseconds.
pub async fn purged(
    server: &CdpServer,
    token: &str,
    tenant: &Tenant,
    within: Duration,
) -> anyhow::Result<f64> {
    let id = format!("ten_{}", tenant.tenant_id.simple());
    let started = Instant::now();
    loop {
        let shown: Value = reqwest::Client::new()
            .get(format!("{}/v1/admin/tenants/{id}", server.base_url))
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        if shown["purge"]["status"] == "done" {
            return Ok(started.elapsed().as_secs_f64() * 1000.0);
        }
        anyhow::ensure!(
            started.elapsed() < within,
            "the purge did not finish: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Signs in as a platform admin; answers the access token.
pub async fn sign_in(server: &CdpServer, email: &str, password: &str) -> anyhow::Result<String> {
    let session: Value = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", server.base_url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    session["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no access token in {session}"))
}
