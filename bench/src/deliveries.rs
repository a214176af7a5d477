//! Delivery throughput: how fast a backlog of events reaches a webhook, against how fast
//! the same events were ingested.
//!
//! A tenant's people grant consent and a destination follows their orders. With the
//! dispatcher off, a run ingests the orders, timed, and waits for them to be projected;
//! then the server starts again with the dispatcher on, and the time until a local
//! receiver has every order is the figure. Routing (opening each event, checking
//! consent), reading each event back from the log when it is sent, opening it again,
//! signing and posting are all in it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::scale;
use crate::segments::api;
use crate::server::{CdpServer, Tenant};

/// People the events are about.
const PEOPLE: usize = 1_000;

/// A receiver that answers 200 to everything and counts what it got.
pub struct Receiver {
    pub url: String,
    received: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let received = Arc::new(AtomicUsize::new(0));
        let counter = received.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, counter.clone()));
            }
        });
        Ok(Receiver { url, received })
    }

    pub fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}

async fn serve(stream: tokio::net::TcpStream, received: Arc<AtomicUsize>) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            line.clear();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        received.fetch_add(1, Ordering::Relaxed);
        if reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Events delivered per second and events ingested per second, for `events` orders. The
/// server must have been started with `CDP_DISPATCHER_CONCURRENCY=0`; it comes back
/// restarted with the dispatcher on.
pub async fn run(
    server: CdpServer,
    tenant: &Tenant,
    events: usize,
) -> anyhow::Result<(f64, f64, CdpServer)> {
    let receiver = Receiver::start().await?;
    scale::send_batches(&server, tenant, PEOPLE, 4, |i| {
        json!({"type": "identify", "userId": format!("p-{i}"),
               "context": {"consent": {"categoryPreferences": {"analytics": true}}}})
    })
    .await?;
    scale::caught_up(&server, tenant, Duration::from_secs(600)).await?;
    api(
        &server,
        tenant,
        reqwest::Method::POST,
        "/v1/destinations",
        &json!({"name": "bench", "url": receiver.url, "purpose": "analytics",
                "filter": {"event_types": ["track"]}}),
    )
    .await?;

    let started = Instant::now();
    scale::send_batches(&server, tenant, events, 16, |i| {
        json!({"type": "track", "userId": format!("p-{}", i % PEOPLE), "event": "Order Completed",
               "properties": {"order_id": format!("o-{i}"), "total": (i % 97) as f64 + 0.5}})
    })
    .await?;
    let ingest_rate = events as f64 / started.elapsed().as_secs_f64();
    scale::caught_up(&server, tenant, Duration::from_secs(600)).await?;

    let server = server
        .restart_with(&[("CDP_DISPATCHER_CONCURRENCY", "64")])
        .await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(1800);
    while receiver.received() < events {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {events} deliveries arrived",
            receiver.received()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivery_rate = events as f64 / started.elapsed().as_secs_f64();
    Ok((delivery_rate, ingest_rate, server))
}
