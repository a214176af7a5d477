//! The dispatcher role: hands each tenant's events and audience changes to its
//! destinations.
//!
//! Two loops. The router follows each tenant's log behind the projector (so a profile's
//! consent is known when its event is routed), decides which destinations receive each
//! event, and queues one delivery per event and destination, committing its position
//! with them. The sender takes due deliveries, one task per destination so that a slow
//! one never delays another, signs and posts them, and records each outcome: delivered,
//! retried later with backoff, dead after the retry window, or cancelled when the
//! person's keys are gone. Deliveries hold no payload; each is built from the log when
//! sent.

mod body;
mod client;
mod error;
mod router;
mod sender;
mod test_send;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cdp_destinations::{Breaker, NetworkPolicy, RetryPolicy};
use cdp_domain::TenantId;
use cdp_keyring::Keyring;
use cdp_storage::DatabaseConnection;
use tokio::sync::Notify;

pub use client::{WebhookClient, install_tls_provider};
pub use error::DispatchError;
pub use router::route_tenant;
pub use test_send::{TestSend, send_test};

/// How the dispatcher behaves; the defaults suit production.
#[derive(Clone, Debug)]
pub struct DispatcherOptions {
    pub retry: RetryPolicy,
    pub breaker: Breaker,
    /// How long a receiver has to answer one delivery.
    pub timeout: Duration,
    pub network: NetworkPolicy,
    /// Deliveries of one destination in flight at once (a round takes up to 256, sent
    /// this many at a time).
    pub per_destination: usize,
    /// Destinations sent to at once.
    pub destinations_at_once: usize,
    /// Events routed per transaction.
    pub route_batch: u64,
    /// How often the loops look for work when nothing woke them.
    pub poll: Duration,
}

impl Default for DispatcherOptions {
    fn default() -> Self {
        DispatcherOptions {
            retry: RetryPolicy::default(),
            breaker: Breaker::default(),
            timeout: Duration::from_secs(10),
            network: NetworkPolicy::default(),
            per_destination: 16,
            destinations_at_once: 64,
            route_batch: 500,
            poll: Duration::from_millis(250),
        }
    }
}

/// Counters of this process's deliveries, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dead: AtomicU64,
    pub cancelled: AtomicU64,
    pub routed: AtomicU64,
}

impl DeliveryCounters {
    pub fn get(&self, counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Every count, named as the metrics' `outcome` label.
    pub fn by_outcome(&self) -> Vec<(&'static str, u64)> {
        [
            ("routed", &self.routed),
            ("delivered", &self.delivered),
            ("failed", &self.failed),
            ("dead", &self.dead),
            ("cancelled", &self.cancelled),
        ]
        .into_iter()
        .map(|(outcome, counter)| (outcome, self.get(counter)))
        .collect()
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

pub(crate) struct Shared {
    db: DatabaseConnection,
    keyring: Keyring,
    options: DispatcherOptions,
    client: WebhookClient,
    wake: Notify,
    counters: Arc<DeliveryCounters>,
}

/// A running dispatcher; its loops stop when the process does.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    pub fn start(
        db: DatabaseConnection,
        keyring: Keyring,
        options: DispatcherOptions,
        appended: Option<tokio::sync::broadcast::Receiver<TenantId>>,
    ) -> Result<Dispatcher, DispatchError> {
        let client = WebhookClient::new(options.network.clone(), options.timeout)?;
        let shared = Arc::new(Shared {
            db,
            keyring,
            options,
            client,
            wake: Notify::new(),
            counters: Arc::default(),
        });
        tokio::spawn(router::run(shared.clone()));
        tokio::spawn(sender::run(shared.clone()));
        if let Some(appended) = appended {
            tokio::spawn(wake_on_appends(shared.clone(), appended));
        }
        Ok(Dispatcher { shared })
    }

    /// Looks for work now rather than at the next poll (a replay, a new destination).
    pub fn wake(&self) {
        self.shared.wake.notify_waiters();
    }

    pub fn counters(&self) -> Arc<DeliveryCounters> {
        self.shared.counters.clone()
    }
}

async fn wake_on_appends(
    shared: Arc<Shared>,
    mut appended: tokio::sync::broadcast::Receiver<TenantId>,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match appended.recv().await {
            Ok(_) | Err(RecvError::Lagged(_)) => shared.wake.notify_waiters(),
            Err(RecvError::Closed) => return,
        }
    }
}
