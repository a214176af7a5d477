//! Freshness: how long after ingestion answers 200 an event is visible in the profile API.
//!
//! A probe sends one event for a person never seen before and then reads that person's
//! profile until it exists; the time from the 200 to the first successful read is the
//! figure. The baseline is the round trip of the same read once the profile exists, which
//! is the resolution of the measurement itself. Probes run one at a time, alone or while
//! other clients load the server with batches.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::server::{CdpServer, Tenant};

pub struct Probes {
    /// Milliseconds from the ingest 200 to the profile being readable, sorted.
    pub visible_ms: Vec<f64>,
    /// Milliseconds of one profile read of an existing profile, sorted.
    pub read_ms: Vec<f64>,
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Probes for `duration` (at least `min_probes` of them), one after another.
pub async fn probe(
    server: &CdpServer,
    tenant: &Tenant,
    run: usize,
    duration: Duration,
    min_probes: usize,
) -> anyhow::Result<Probes> {
    let client = reqwest::Client::new();
    let mut visible_ms = Vec::new();
    let mut read_ms = Vec::new();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < duration || visible_ms.len() < min_probes {
        n += 1;
        let user = format!("probe-{run}-{n}");
        let response = client
            .post(format!("{}/v1/track", server.base_url))
            .basic_auth(&tenant.write_key, Some(""))
            .json(&json!({"userId": user, "event": "Probe", "properties": {"n": n}}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "probe ingest answered {}",
            response.status()
        );
        let acknowledged = Instant::now();
        let profile = format!("{}/v1/profiles/user_id:{user}", server.base_url);
        let deadline = acknowledged + Duration::from_secs(30);
        // A probe still not visible at the deadline counts as what it waited (at least
        // 30 s): the load is more than the projector keeps up with, and the tail says so.
        let visible = loop {
            let read = client
                .get(&profile)
                .bearer_auth(&tenant.api_key)
                .send()
                .await?;
            match read.status().as_u16() {
                200 => break true,
                // A short pause, so the probe does not take a core from the server.
                404 if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(1)).await
                }
                404 => {
                    eprintln!("  a probe was not visible after 30 s");
                    break false;
                }
                status => anyhow::bail!("probe profile read answered {status}"),
            }
        };
        visible_ms.push(acknowledged.elapsed().as_secs_f64() * 1000.0);
        if !visible {
            continue;
        }
        let again = Instant::now();
        let read = client
            .get(&profile)
            .bearer_auth(&tenant.api_key)
            .send()
            .await?;
        anyhow::ensure!(
            read.status() == 200,
            "baseline read answered {}",
            read.status()
        );
        read_ms.push(again.elapsed().as_secs_f64() * 1000.0);
    }
    visible_ms.sort_by(f64::total_cmp);
    read_ms.sort_by(f64::total_cmp);
    Ok(Probes {
        visible_ms,
        read_ms,
    })
}
