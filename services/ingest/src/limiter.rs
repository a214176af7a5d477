//! Per-tenant quotas. Rates are token buckets: in Redis when it is configured, so that every
//! ingest process draws from one bucket per tenant, in process otherwise (and while Redis
//! does not answer). Storage is the bytes of sealed events the tenant's log holds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cdp_domain::TenantId;
use cdp_storage::DatabaseConnection;
use cdp_storage::FastPath;
use parking_lot::Mutex;

use crate::IngestError;

/// How many events a tenant may send: a sustained rate and a burst on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IngestLimit {
    pub events_per_second: u32,
    pub burst: u32,
}

/// How long a tenant's quotas and usage are trusted before they are read again.
const LIMIT_TTL: Duration = Duration::from_secs(10);

#[derive(Clone, Copy)]
struct TenantQuota {
    rate: IngestLimit,
    storage_bytes: Option<u64>,
    used_bytes: u64,
}

/// Atomically refills and draws from a bucket kept as a Redis hash. Returns 0 when the
/// events may pass, otherwise the milliseconds until they could.
const BUCKET_SCRIPT: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= n then tokens = tokens - n else wait = math.ceil((n - tokens) * 1000 / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
";

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub struct RateLimiter {
    db: DatabaseConnection,
    redis: Option<FastPath>,
    default: IngestLimit,
    limits: Mutex<HashMap<TenantId, (Instant, TenantQuota)>>,
    buckets: Mutex<HashMap<TenantId, Bucket>>,
    script: redis::Script,
    last_warning: AtomicU64,
}

impl RateLimiter {
    pub fn new(db: DatabaseConnection, redis: Option<FastPath>, default: IngestLimit) -> Self {
        Self {
            db,
            redis,
            default,
            limits: Mutex::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            script: redis::Script::new(BUCKET_SCRIPT),
            last_warning: AtomicU64::new(0),
        }
    }

    /// Refuses a tenant over its storage quota, then takes `events` tokens from its bucket
    /// or says how long to wait.
    pub async fn check(&self, tenant: TenantId, events: usize) -> Result<(), IngestError> {
        let quota = self.quota_of(tenant).await?;
        if quota
            .storage_bytes
            .is_some_and(|allowed| quota.used_bytes >= allowed)
        {
            return Err(IngestError::QuotaExceeded);
        }
        let limit = quota.rate;
        // A request larger than the burst could never pass; it may once the bucket is full.
        let wanted = (events as f64).min(f64::from(limit.burst.max(1)));
        let connection = self.redis.as_ref().map(|r| (r, r.connection()));
        let wait_ms = match connection {
            Some((fast, Some(conn))) => match self.check_redis(conn, tenant, limit, wanted).await {
                Ok(wait) => {
                    fast.succeeded();
                    wait
                }
                Err(e) => {
                    fast.failed();
                    cdp_telemetry::metrics::REDIS_FALLBACKS.add("rate_limit", 1);
                    self.warn_degraded(&e);
                    self.check_local(tenant, limit, wanted)
                }
            },
            Some((_, None)) => {
                cdp_telemetry::metrics::REDIS_FALLBACKS.add("rate_limit", 1);
                self.check_local(tenant, limit, wanted)
            }
            None => self.check_local(tenant, limit, wanted),
        };
        if wait_ms == 0 {
            Ok(())
        } else {
            Err(IngestError::RateLimited {
                retry_after: wait_ms.div_ceil(1000).max(1),
            })
        }
    }

    async fn quota_of(&self, tenant: TenantId) -> Result<TenantQuota, IngestError> {
        if let Some((at, quota)) = self.limits.lock().get(&tenant).copied()
            && at.elapsed() < LIMIT_TTL
        {
            return Ok(quota);
        }
        let configured = cdp_tenancy::quotas(&self.db, tenant)
            .await
            .map_err(IngestError::unavailable)?;
        let used_bytes = match configured.storage_bytes {
            Some(_) => cdp_log::stored_bytes(&self.db, tenant)
                .await
                .map_err(IngestError::unavailable)?,
            None => 0,
        };
        let rate = match configured.events_per_second {
            Some(events_per_second) => IngestLimit {
                events_per_second,
                burst: configured
                    .burst
                    .unwrap_or(events_per_second.saturating_mul(2)),
            },
            None => self.default,
        };
        let quota = TenantQuota {
            rate,
            storage_bytes: configured.storage_bytes,
            used_bytes,
        };
        self.limits.lock().insert(tenant, (Instant::now(), quota));
        Ok(quota)
    }

    fn check_local(&self, tenant: TenantId, limit: IngestLimit, wanted: f64) -> u64 {
        let rate = f64::from(limit.events_per_second.max(1));
        let burst = f64::from(limit.burst.max(1));
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(tenant).or_insert_with(|| Bucket {
            tokens: burst,
            at: Instant::now(),
        });
        let now = Instant::now();
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            0
        } else {
            ((wanted - bucket.tokens) * 1000.0 / rate).ceil() as u64
        }
    }

    async fn check_redis(
        &self,
        mut conn: redis::aio::ConnectionManager,
        tenant: TenantId,
        limit: IngestLimit,
        wanted: f64,
    ) -> Result<u64, redis::RedisError> {
        self.script
            .key(format!("cdp:ratelimit:{tenant}"))
            .arg(limit.events_per_second.max(1))
            .arg(limit.burst.max(1))
            .arg(wanted)
            .invoke_async(&mut conn)
            .await
    }

    /// Says once a minute, not once a request, that limits fell back to this process.
    fn warn_degraded(&self, error: &redis::RedisError) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 60
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %error, "Redis is not answering: rate limits are enforced per process");
        }
    }
}
