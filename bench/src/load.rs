//! The load generator: concurrent clients posting prepared bodies as fast as the server
//! acknowledges them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::RequestBuilder;

use crate::proc_stats::ProcessStats;
use crate::server::CdpServer;

pub struct Outcome {
    pub events: u64,
    pub failures: u64,
    pub elapsed: Duration,
    /// Request latencies in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    pub server_cpu_seconds: f64,
    pub client_cpu_seconds: f64,
}

impl Outcome {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    pub fn latency_percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

pub async fn drive(
    server: &CdpServer,
    write_key: &str,
    bodies: &[Vec<u8>],
    batch: usize,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    drive_to(
        server,
        "/v1/batch",
        write_key,
        bodies,
        batch,
        clients,
        duration,
    )
    .await
}

/// The same load, sent to another path of the server.
pub async fn drive_to(
    server: &CdpServer,
    path: &str,
    write_key: &str,
    bodies: &[Vec<u8>],
    batch: usize,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let url = format!("{}{path}", server.base_url);
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(bodies.to_vec());
    let stop = Arc::new(AtomicBool::new(false));
    let server_before = server.stats()?;
    let client_before = ProcessStats::current()?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, url, bodies, stop, key) = (
            client.clone(),
            url.clone(),
            bodies.clone(),
            stop.clone(),
            write_key.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let mut i = c;
            while !stop.load(Ordering::Relaxed) {
                let request = post(&client, &url, &key, &bodies[i % bodies.len()]);
                i += clients;
                match timed(request).await {
                    Some(us) => latencies.push(us),
                    None => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies_us = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await?;
        latencies_us.extend(l);
        failures += f;
    }
    let measured = Measured {
        started,
        server_before,
        client_before,
    };
    measured.outcome(server, latencies_us, failures, batch)
}

/// Open-loop load: one request every `1 / rate` seconds, whether or not earlier ones have
/// been answered, so a slow answer cannot slow the load down and hide its own latency.
pub async fn paced(
    server: &CdpServer,
    write_key: &str,
    bodies: &[Vec<u8>],
    batch: usize,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let url = format!("{}/v1/batch", server.base_url);
    let server_before = server.stats()?;
    let client_before = ProcessStats::current()?;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1.0)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = tokio::task::JoinSet::new();
    let mut i = 0;
    while started.elapsed() < duration {
        ticks.tick().await;
        let request = post(&client, &url, write_key, &bodies[i % bodies.len()]);
        i += 1;
        requests.spawn(timed(request));
    }
    let mut latencies_us = Vec::new();
    let mut failures = 0;
    while let Some(answer) = requests.join_next().await {
        match answer? {
            Some(l) => latencies_us.push(l),
            None => failures += 1,
        }
    }
    let measured = Measured {
        started,
        server_before,
        client_before,
    };
    measured.outcome(server, latencies_us, failures, batch)
}

/// A tracking request with the write key as the Basic user name, as the SDKs send it.
fn post(client: &reqwest::Client, url: &str, write_key: &str, body: &[u8]) -> RequestBuilder {
    client
        .post(url)
        .basic_auth(write_key, Some(""))
        .header("content-type", "application/json")
        .body(body.to_vec())
}

/// Sends a request; its latency in microseconds when answered 200, `None` (reported) when not.
async fn timed(request: RequestBuilder) -> Option<u64> {
    let sent = Instant::now();
    match request.send().await {
        Ok(r) if r.status() == 200 => Some(sent.elapsed().as_micros() as u64),
        Ok(r) => {
            let status = r.status();
            eprintln!(
                "request failed: {status} {}",
                r.text().await.unwrap_or_default()
            );
            None
        }
        Err(e) => {
            eprintln!("request failed: {e}");
            None
        }
    }
}

/// What a load run started from, to turn its answers into an outcome.
struct Measured {
    started: Instant,
    server_before: ProcessStats,
    client_before: ProcessStats,
}

impl Measured {
    fn outcome(
        self,
        server: &CdpServer,
        mut latencies_us: Vec<u64>,
        failures: u64,
        batch: usize,
    ) -> anyhow::Result<Outcome> {
        let elapsed = self.started.elapsed();
        let server_after = server.stats()?;
        let client_after = ProcessStats::current()?;
        latencies_us.sort_unstable();
        Ok(Outcome {
            events: latencies_us.len() as u64 * batch as u64,
            failures,
            elapsed,
            latencies_us,
            server_cpu_seconds: server_after.cpu_seconds - self.server_before.cpu_seconds,
            client_cpu_seconds: client_after.cpu_seconds - self.client_before.cpu_seconds,
        })
    }
}
