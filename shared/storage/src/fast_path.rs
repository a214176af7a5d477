//! Redis as a fast path. Every use of Redis here has a fallback (per-process rate limits and
//! login throttling, the log's unique key for deduplication), so when Redis does not answer
//! the thing to do is to stop asking it for a moment: each attempt costs the request the
//! client's reconnection tries (well over a second in the fault test) before the fallback
//! runs. After a failure, uses skip Redis for [`PAUSE`]; then one use tries again while the
//! others keep skipping, and a success ends the pause. Readiness checks ask Redis whatever
//! the pause, so that it is seen to be back as soon as it is.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

/// How long uses skip Redis after it failed.
pub const PAUSE: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct FastPath {
    manager: ConnectionManager,
    /// Milliseconds since [`epoch`] until which uses skip Redis; 0 while it answers.
    paused_until: Arc<AtomicU64>,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    // Never 0, which means "not paused".
    epoch().elapsed().as_millis() as u64 + 1
}

impl FastPath {
    pub fn new(manager: ConnectionManager) -> Self {
        epoch();
        Self {
            manager,
            paused_until: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The connection to use now, or `None` while Redis is being given a rest.
    pub fn connection(&self) -> Option<ConnectionManager> {
        let until = self.paused_until.load(Ordering::Relaxed);
        if until == 0 {
            return Some(self.manager.clone());
        }
        let now = now_ms();
        let next = now + PAUSE.as_millis() as u64;
        // Past the pause, one caller gets to try; it pushes the pause on for the others.
        let wins = now >= until
            && self
                .paused_until
                .compare_exchange(until, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        wins.then(|| self.manager.clone())
    }

    /// The connection whatever the pause: for readiness checks.
    pub fn probe(&self) -> ConnectionManager {
        self.manager.clone()
    }

    /// Whether uses are skipping Redis now.
    pub fn paused(&self) -> bool {
        self.paused_until.load(Ordering::Relaxed) != 0
    }

    /// A use failed: skip Redis for a while.
    pub fn failed(&self) {
        let next = now_ms() + PAUSE.as_millis() as u64;
        self.paused_until.fetch_max(next, Ordering::Relaxed);
    }

    /// A use succeeded: Redis answers again.
    pub fn succeeded(&self) {
        if self.paused_until.load(Ordering::Relaxed) != 0 {
            self.paused_until.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> FastPath {
        // Nothing listens on port 1; the manager connects lazily, so none is attempted.
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let manager = ConnectionManager::new_lazy_with_config(
            client,
            redis::aio::ConnectionManagerConfig::new(),
        )
        .unwrap();
        FastPath::new(manager)
    }

    #[tokio::test]
    async fn a_failure_pauses_uses_and_one_tries_again_after_the_pause() {
        let fast = path();
        assert!(fast.connection().is_some());
        fast.failed();
        assert!(fast.paused());
        assert!(fast.connection().is_none(), "skipped during the pause");
        // Past the pause: exactly one caller tries.
        fast.paused_until.store(1, Ordering::Relaxed);
        assert!(fast.connection().is_some());
        assert!(fast.connection().is_none(), "the others keep skipping");
        fast.succeeded();
        assert!(!fast.paused());
        assert!(fast.connection().is_some());
        assert!(fast.connection().is_some());
    }
}
