//! The Redis fast path for message-id deduplication: an event whose id Redis has seen is
//! dropped before it is sealed. Redis only remembers ids after they are committed, and the
//! log's unique key stays the guarantee; when Redis does not answer, the path is skipped.

use cdp_domain::TenantId;
use cdp_storage::FastPath;

/// Ids are remembered a little over a day: the tracking SDKs retry for far less.
const REMEMBER_SECONDS: u64 = 25 * 60 * 60;

#[derive(Clone)]
pub(crate) struct RedisDedupe {
    redis: FastPath,
}

fn key(tenant: TenantId, message_id: &str) -> String {
    format!("cdp:seen:{tenant}:{message_id}")
}

impl RedisDedupe {
    pub(crate) fn new(redis: FastPath) -> Self {
        Self { redis }
    }

    /// For each id, whether it was committed before. All `false` when Redis fails.
    pub(crate) async fn seen(&self, tenant: TenantId, ids: &[&str]) -> Vec<bool> {
        if ids.is_empty() {
            return Vec::new();
        }
        let Some(mut conn) = self.redis.connection() else {
            cdp_telemetry::metrics::REDIS_FALLBACKS.add("dedupe", 1);
            return vec![false; ids.len()];
        };
        let keys: Vec<String> = ids.iter().map(|id| key(tenant, id)).collect();
        let found: Result<Vec<Option<u8>>, _> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await;
        match found {
            Ok(found) if found.len() == ids.len() => {
                self.redis.succeeded();
                found.iter().map(Option::is_some).collect()
            }
            Ok(_) | Err(_) => {
                self.redis.failed();
                cdp_telemetry::metrics::REDIS_FALLBACKS.add("dedupe", 1);
                vec![false; ids.len()]
            }
        }
    }

    /// Remembers committed ids. A failure only costs the fast path.
    pub(crate) async fn remember(&self, tenant: TenantId, ids: &[&str]) {
        if ids.is_empty() {
            return;
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("SET")
                .arg(key(tenant, id))
                .arg(1)
                .arg("EX")
                .arg(REMEMBER_SECONDS)
                .ignore();
        }
        let Some(mut conn) = self.redis.connection() else {
            cdp_telemetry::metrics::REDIS_FALLBACKS.add("dedupe", 1);
            return;
        };
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            self.redis.failed();
            cdp_telemetry::metrics::REDIS_FALLBACKS.add("dedupe", 1);
            tracing::debug!(error = %e, "could not remember message ids in Redis");
        }
    }
}
