//! Write keys checked recently, so that a tracking request costs no database round trip
//! for its key. Every ingest request presents one, and the check would otherwise be three
//! queries (credential, tenant status, source) on the hot path.
//!
//! Staleness is bounded two ways: a change made by this process (a revoked key, a
//! suspended or deleted tenant) empties the cache at once through [`credentials_changed`];
//! a change made by another process is seen within [`GRANT_TTL`].

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lru::LruCache;
use parking_lot::Mutex;
use sea_orm::ConnectionTrait;

use crate::TenancyError;
use crate::credential::{KeyCheck, WriteKeyGrant, authenticate_write_key};
use crate::token::hash;

/// How long a checked key is trusted before it is read again.
pub const GRANT_TTL: Duration = Duration::from_secs(5);

/// Keys kept; a tenant has a handful, so this covers many tenants.
const CAPACITY: usize = 10_000;

/// Bumped whenever this process changes anything a write key check reads.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Says that credentials or tenant states changed (call it once the change is committed):
/// every cached check made before is dropped.
pub fn credentials_changed() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
}

struct Entry {
    checked_at: Instant,
    epoch: u64,
    check: KeyCheck<WriteKeyGrant>,
}

/// A bounded cache of write key checks, keyed by the secret's hash (never the secret).
pub struct WriteKeyCache {
    entries: Mutex<LruCache<String, Entry>>,
    ttl: Duration,
}

impl Default for WriteKeyCache {
    fn default() -> Self {
        Self::new(GRANT_TTL)
    }
}

impl WriteKeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(
                NonZeroUsize::new(CAPACITY).expect("capacity is not zero"),
            )),
            ttl,
        }
    }

    /// Checks a presented write key, from the cache when a fresh answer is there.
    /// Unknown keys are not cached, so guessing cannot crowd out real ones.
    pub async fn authenticate<C: ConnectionTrait>(
        &self,
        conn: &C,
        presented: &str,
    ) -> Result<KeyCheck<WriteKeyGrant>, TenancyError> {
        let key = hash(presented);
        // The epoch is read before the database: a change committed after this point
        // bumps it, and the answer read here is then never used again.
        let epoch = EPOCH.load(Ordering::SeqCst);
        if let Some(entry) = self.entries.lock().get(&key)
            && entry.epoch == epoch
            && entry.checked_at.elapsed() < self.ttl
        {
            return Ok(entry.check.clone());
        }
        let check = authenticate_write_key(conn, presented).await?;
        if check != KeyCheck::Invalid {
            self.entries.lock().put(
                key,
                Entry {
                    checked_at: Instant::now(),
                    epoch,
                    check: check.clone(),
                },
            );
        }
        Ok(check)
    }
}
