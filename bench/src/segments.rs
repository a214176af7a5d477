//! Segments: what keeping 50 segments fresh adds to projecting each event, and how long
//! computing a new segment over a million existing profiles takes against reading the
//! profile table once.

use std::path::Path;
use std::time::{Duration, Instant};

use sea_orm::sqlx::{self, Connection};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::data::Rng;
use crate::scale;
use crate::server::{CdpServer, Tenant};

/// A management API call with the tenant's key; an answer other than 2xx is an error.
pub async fn api(
    server: &CdpServer,
    tenant: &Tenant,
    method: reqwest::Method,
    path: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base_url))
        .bearer_auth(&tenant.api_key)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{path}: {status} {answer}");
    Ok(answer)
}

/// Fifty segments of the kinds marketers make: traits, counts, event conditions with
/// filters and windows, computed traits, consent, combinations.
pub async fn define_fifty(server: &CdpServer, tenant: &Tenant) -> anyhow::Result<()> {
    for preset in ["total_revenue", "order_count", "days_since_last_order"] {
        api(
            server,
            tenant,
            reqwest::Method::PUT,
            &format!("/v1/computed-traits/{preset}"),
            &json!({"preset": preset}),
        )
        .await?;
    }
    for i in 0..50 {
        let text = match i % 10 {
            0 => format!("trait plan = \"{}\"", ["free", "pro", "team"][i % 3]),
            1 => format!("performed \"Order Completed\" >= {} times", 1 + i / 10),
            2 => format!(
                "performed \"Order Completed\" where revenue > {} >= 2 times within 30 days",
                20 * (i / 10 + 1)
            ),
            3 => format!(
                "not performed \"Page Viewed\" within {} days",
                7 * (i / 10 + 1)
            ),
            4 => format!("computed total_revenue > {}", 100 * (i / 10 + 1)),
            5 => format!(
                "computed order_count >= {} and trait plan != \"free\"",
                i / 10 + 1
            ),
            6 => format!("computed days_since_last_order <= {}", 10 * (i / 10 + 1)),
            7 => "consent \"marketing\" and trait country in [\"DE\", \"FR\"]".to_owned(),
            8 => format!(
                "performed \"Page Viewed\" where path starts with \"/p/{}\" within 24 hours",
                i / 10
            ),
            _ => format!(
                "(trait plan = \"pro\" or computed total_revenue >= {}) and performed \"Order Completed\" within 90 days",
                50 * (i / 10 + 1)
            ),
        };
        api(
            server,
            tenant,
            reqwest::Method::POST,
            "/v1/segments",
            &json!({"name": format!("segment {i}"), "text": text}),
        )
        .await?;
    }
    Ok(())
}

/// `count` events of 5,000 people: identifies, orders and page views.
pub async fn send_mixed(server: &CdpServer, tenant: &Tenant, count: usize) -> anyhow::Result<()> {
    scale::send_batches(server, tenant, count, 8, move |i| {
        let mut rng = Rng::new(i as u64);
        let user = format!("u-{}", rng.below(5_000));
        match i % 5 {
            0 => json!({"type": "identify", "userId": user, "traits": {
                "plan": (["free", "pro", "team"][rng.below(3) as usize]),
                "country": (["DE", "FR", "US", "GB"][rng.below(4) as usize])},
                "context": {"consent": {"marketing": rng.below(2) == 1}}}),
            1 | 2 => json!({"type": "track", "userId": user, "event": "Order Completed",
                "properties": {"revenue": rng.below(300) as f64 + 0.5}}),
            _ => json!({"type": "page", "userId": user, "name": "Product",
                "properties": {"path": format!("/p/{}", rng.below(100))}}),
        }
    })
    .await
}

/// Seconds from the first event sent to the last one projected.
pub async fn project_mixed(
    server: &CdpServer,
    tenant: &Tenant,
    count: usize,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    send_mixed(server, tenant, count).await?;
    scale::caught_up(server, tenant, Duration::from_secs(3600)).await?;
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds from creating a segment until its membership is computed over every profile;
/// returns its size too.
pub async fn backfill(
    server: &CdpServer,
    tenant: &Tenant,
    text: &str,
) -> anyhow::Result<(f64, i64)> {
    let started = Instant::now();
    let created = api(
        server,
        tenant,
        reqwest::Method::POST,
        "/v1/segments",
        &json!({"name": "backfilled", "text": text}),
    )
    .await?;
    let id = created["segment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let client = reqwest::Client::new();
    loop {
        let segment: Value = client
            .get(format!("{}/v1/segments/{id}", server.base_url))
            .bearer_auth(&tenant.api_key)
            .send()
            .await?
            .json()
            .await?;
        if segment["status"]["state"] == "ready" {
            return Ok((
                started.elapsed().as_secs_f64(),
                segment["size"].as_i64().unwrap_or(0),
            ));
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3600),
            "backfill never finished: {segment}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Seconds to read every row of the tenant's profiles and their traits once, the plain
/// way: what a backfill cannot do faster than.
pub async fn scan_profiles(
    url: &str,
    tenant: Uuid,
    _data_dir: &Path,
) -> anyhow::Result<(f64, u64)> {
    use futures::TryStreamExt;
    let started = Instant::now();
    let mut rows = 0u64;
    let queries = [
        "SELECT profile_id, first_seen, last_seen FROM profiles WHERE tenant_id = $1",
        "SELECT profile_id, name, value FROM profile_traits WHERE tenant_id = $1",
    ];
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for q in queries {
            let mut stream = sqlx::query(q).bind(tenant).fetch(&mut conn);
            while stream.try_next().await?.is_some() {
                rows += 1;
            }
        }
    } else {
        let mut conn = sqlx::SqliteConnection::connect(&format!("{url}?mode=ro")).await?;
        let queries = [
            "SELECT profile_id, first_seen, last_seen FROM profiles WHERE tenant_id = ?",
            "SELECT profile_id, name, value FROM profile_traits WHERE tenant_id = ?",
        ];
        for q in queries {
            let mut stream = sqlx::query(q).bind(tenant).fetch(&mut conn);
            while stream.try_next().await?.is_some() {
                rows += 1;
            }
        }
    }
    Ok((started.elapsed().as_secs_f64(), rows))
}
