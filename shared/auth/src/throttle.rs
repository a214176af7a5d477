//! Slowing down password guessing, per account and per client address: after a few
//! failures within a window, each further failure locks the key for twice as long as the
//! last, up to a quarter of an hour. Shared through Redis when it is configured.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cdp_storage::FastPath;
use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

/// Failures allowed on one account before locking starts.
const FREE_ACCOUNT_FAILURES: u32 = 5;
/// Failures allowed from one address: more, since an office or a carrier puts many
/// people behind one address, and one of them mistyping should not lock out the rest.
const FREE_ADDRESS_FAILURES: u32 = 50;
/// How long failures are remembered.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest lock.
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

fn lock_for(key: &str, failures: u32) -> Option<Duration> {
    let free = if key.starts_with(ADDRESS_PREFIX) {
        FREE_ADDRESS_FAILURES
    } else {
        FREE_ACCOUNT_FAILURES
    };
    let over = failures.checked_sub(free)?;
    if over == 0 {
        return None;
    }
    Some(Duration::from_secs(1u64 << over.min(10)).min(MAX_LOCK))
}

/// The throttle key of an account: a hash, so no address sits in Redis or in memory.
pub(crate) fn account_key(email: &str) -> String {
    format!(
        "acct:{}",
        hex::encode(&Sha256::digest(email.as_bytes())[..16])
    )
}

const ADDRESS_PREFIX: &str = "ip:";

pub(crate) fn address_key(ip: &str) -> String {
    format!("{ADDRESS_PREFIX}{ip}")
}

struct Record {
    failures: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

pub(crate) struct LoginThrottle {
    redis: Option<FastPath>,
    local: Mutex<HashMap<String, Record>>,
}

impl LoginThrottle {
    pub(crate) fn new(redis: Option<FastPath>) -> Self {
        Self {
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Redis to ask now: `None` without Redis, `Some(None)` while it is given a rest.
    fn redis(&self) -> Option<Option<ConnectionManager>> {
        self.redis.as_ref().map(FastPath::connection)
    }

    /// Notes how a use of Redis went; a failure sends this use to the local records.
    fn outcome(&self, ok: bool) {
        if let Some(fast) = &self.redis {
            if ok {
                fast.succeeded();
            } else {
                fast.failed();
            }
        }
    }

    /// Seconds to wait before the next attempt, if any key is locked.
    pub(crate) async fn locked(&self, keys: &[String]) -> Option<u64> {
        if let Some(conn) = self.redis() {
            let mut pipe = redis::pipe();
            for key in keys {
                pipe.cmd("PTTL").arg(format!("cdp:login:lock:{key}"));
            }
            let asked = match conn {
                Some(mut conn) => pipe.query_async::<Vec<i64>>(&mut conn).await.ok(),
                None => None,
            };
            self.outcome(asked.is_some());
            if let Some(ttls) = asked {
                return ttls
                    .into_iter()
                    .filter(|ms| *ms > 0)
                    .max()
                    .map(|ms| (ms as u64).div_ceil(1000));
            }
            cdp_telemetry::metrics::REDIS_FALLBACKS.add("login_throttle", 1);
        }
        let now = Instant::now();
        let local = self.local.lock();
        keys.iter()
            .filter_map(|k| local.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| (until - now).as_secs().max(1))
            .max()
    }

    pub(crate) async fn failure(&self, keys: &[String]) {
        if let Some(Some(mut conn)) = self.redis() {
            let mut ok = true;
            for key in keys {
                let count_key = format!("cdp:login:failures:{key}");
                let counted: Result<(u32, ()), _> = redis::pipe()
                    .cmd("INCR")
                    .arg(&count_key)
                    .cmd("EXPIRE")
                    .arg(&count_key)
                    .arg(WINDOW.as_secs())
                    .arg("NX")
                    .query_async(&mut conn)
                    .await;
                match counted {
                    Ok((failures, ())) => {
                        if let Some(lock) = lock_for(key, failures) {
                            let _: Result<(), _> = redis::cmd("SET")
                                .arg(format!("cdp:login:lock:{key}"))
                                .arg(1)
                                .arg("PX")
                                .arg(lock.as_millis() as u64)
                                .query_async(&mut conn)
                                .await;
                        }
                    }
                    Err(_) => ok = false,
                }
            }
            self.outcome(ok);
            if ok {
                return;
            }
            cdp_telemetry::metrics::REDIS_FALLBACKS.add("login_throttle", 1);
        } else if self.redis.is_some() {
            cdp_telemetry::metrics::REDIS_FALLBACKS.add("login_throttle", 1);
        }
        let now = Instant::now();
        let mut local = self.local.lock();
        local.retain(|_, r| {
            now.duration_since(r.first) < WINDOW || r.locked_until.is_some_and(|u| u > now)
        });
        for key in keys {
            let record = local.entry(key.clone()).or_insert(Record {
                failures: 0,
                first: now,
                locked_until: None,
            });
            record.failures += 1;
            if let Some(lock) = lock_for(key, record.failures) {
                record.locked_until = Some(now + lock);
            }
        }
    }

    /// A successful sign-in clears the account's record (not the address's).
    pub(crate) async fn success(&self, account: &str) {
        if let Some(Some(mut conn)) = self.redis() {
            let _: Result<(), _> = redis::cmd("DEL")
                .arg(format!("cdp:login:failures:{account}"))
                .arg(format!("cdp:login:lock:{account}"))
                .query_async(&mut conn)
                .await;
        }
        self.local.lock().remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_grow_after_the_free_failures() {
        let account = account_key("a@b.c");
        assert_eq!(lock_for(&account, 5), None);
        assert_eq!(lock_for(&account, 6), Some(Duration::from_secs(2)));
        assert_eq!(lock_for(&account, 7), Some(Duration::from_secs(4)));
        assert_eq!(lock_for(&account, 40), Some(MAX_LOCK));
        let address = address_key("10.0.0.1");
        assert_eq!(lock_for(&address, 50), None);
        assert_eq!(lock_for(&address, 51), Some(Duration::from_secs(2)));
    }

    #[tokio::test]
    async fn the_sixth_failure_locks_and_success_clears() {
        let throttle = LoginThrottle::new(None);
        let keys = vec![account_key("a@b.c"), address_key("10.0.0.1")];
        for _ in 0..5 {
            assert_eq!(throttle.locked(&keys).await, None);
            throttle.failure(&keys).await;
        }
        assert_eq!(throttle.locked(&keys).await, None);
        throttle.failure(&keys).await;
        assert!(throttle.locked(&keys).await.is_some());
        assert!(
            throttle.locked(&keys[1..]).await.is_none(),
            "the address allows more failures"
        );
        throttle.success(&keys[0]).await;
        assert!(throttle.locked(&keys[..1]).await.is_none());
        for _ in 6..50 {
            throttle.failure(&keys[1..]).await;
        }
        assert_eq!(throttle.locked(&keys[1..]).await, None);
        throttle.failure(&keys[1..]).await;
        assert!(
            throttle.locked(&keys[1..]).await.is_some(),
            "many failures from one address lock it"
        );
    }
}
