//! Keys destroyed or rotated by other processes. A key cache is per process: a process
//! that holds an unwrapped key keeps it after another process destroyed its row. So every
//! process looks at the key store every [`WATCH_EVERY`] for keys destroyed lately and
//! drops them from its caches (and for new tenant key versions, so that new data keys go
//! under the newest), and trusts its cached keys only while its last look is
//! recent. From [`SHREDDED_EVERYWHERE_AFTER`] past a key's destruction, no such process
//! opens what it sealed (a process that cannot look cannot read the log either: both
//! need the database).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cdp_domain::{DataKeyId, TenantId};
use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::KeyringError;
use crate::store::{data_key, tenant_key};

/// How often a watching process looks.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Cached keys are used only while the last completed look began this recently; past
/// that, every key is read again from the key store.
const TRUST_FOR: Duration = Duration::from_secs(3);
/// How far before its own start a look reaches back: a destruction is stamped inside its
/// transaction, which may commit later, and on another host's clock.
const LOOK_BACK: TimeDelta = TimeDelta::seconds(30);
/// The time from a key's destruction after which no watching process opens anything it
/// sealed: a look that began after the destruction committed has ended ([`TRUST_FOR`]),
/// with a margin for clocks.
pub const SHREDDED_EVERYWHERE_AFTER: Duration = Duration::from_secs(5);

/// When the last look began. Read on every use of a cached key, so without a lock: an
/// atomic count of milliseconds since the watch was made (0 while the process does not
/// watch: a short-lived command, whose cached keys expire with the cache's own time to
/// live).
pub(crate) struct Watch {
    origin: Instant,
    last_look_ms: AtomicU64,
    last_look_at: Mutex<Option<DateTime<Utc>>>,
}

impl Default for Watch {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            last_look_ms: AtomicU64::new(0),
            last_look_at: Mutex::new(None),
        }
    }
}

impl Watch {
    pub(crate) fn trusts_cache(&self) -> bool {
        match self.last_look_ms.load(Ordering::Acquire) {
            0 => true,
            // Stored plus one, so that a look at the very start is not "never".
            stored => {
                let began = Duration::from_millis(stored - 1);
                self.origin.elapsed().saturating_sub(began) < TRUST_FOR
            }
        }
    }

    /// Where the next look starts from.
    pub(crate) fn since(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let from = self.last_look_at.lock().unwrap_or(now);
        from - LOOK_BACK
    }

    pub(crate) fn looked(&self, began: Instant, at: DateTime<Utc>) {
        *self.last_look_at.lock() = Some(at);
        let ms = began.saturating_duration_since(self.origin).as_millis() as u64;
        self.last_look_ms.store(ms + 1, Ordering::Release);
    }
}

/// Destroyed data keys one look reads at most; past that (a retention sweep of many
/// keys, say) the process drops its whole key cache instead, and reads keys again.
pub(crate) const LOOK_LIMIT: u64 = 10_000;

/// What changed from `since` on: data keys destroyed, tenants whose keys went, and
/// tenants that got a new key version (a rotation: new data keys go under it).
pub(crate) struct Changed {
    pub data_keys: Vec<(TenantId, DataKeyId)>,
    /// More data keys were destroyed than [`LOOK_LIMIT`]: `data_keys` is not all of them.
    pub overflow: bool,
    pub tenants: Vec<TenantId>,
    pub rotated: Vec<TenantId>,
}

pub(crate) async fn changed_since<C: ConnectionTrait>(
    conn: &C,
    since: DateTime<Utc>,
) -> Result<Changed, KeyringError> {
    let data_keys: Vec<(uuid::Uuid, uuid::Uuid)> = data_key::Entity::find()
        .select_only()
        .column(data_key::Column::TenantId)
        .column(data_key::Column::KeyId)
        .filter(data_key::Column::ShreddedAt.gte(since))
        .limit(LOOK_LIMIT + 1)
        .into_tuple()
        .all(conn)
        .await?;
    let overflow = data_keys.len() as u64 > LOOK_LIMIT;
    // A tenant key row destroyed or created: the whole tenant's keys were destroyed if
    // none is left, else a version came or went (a rotation) and its keys are read again.
    let mut touched: Vec<uuid::Uuid> = tenant_key::Entity::find()
        .select_only()
        .column(tenant_key::Column::TenantId)
        .filter(
            tenant_key::Column::ShreddedAt
                .gte(since)
                .or(tenant_key::Column::CreatedAt.gte(since)),
        )
        .into_tuple()
        .all(conn)
        .await?;
    touched.sort_unstable();
    touched.dedup();
    let mut live: Vec<uuid::Uuid> = Vec::new();
    for chunk in touched.chunks(500) {
        let found: Vec<uuid::Uuid> = tenant_key::Entity::find()
            .select_only()
            .column(tenant_key::Column::TenantId)
            .filter(tenant_key::Column::TenantId.is_in(chunk.iter().copied()))
            .filter(tenant_key::Column::WrappedKey.is_not_null())
            .into_tuple()
            .all(conn)
            .await?;
        live.extend(found);
    }
    let (mut rotated, tenants): (Vec<uuid::Uuid>, Vec<uuid::Uuid>) =
        touched.into_iter().partition(|t| live.contains(t));
    // A new retention policy changes how new keys are made: read the tenant again.
    rotated.extend(crate::retention::policies_changed_since(conn, since).await?);
    Ok(Changed {
        overflow,
        data_keys: data_keys
            .into_iter()
            .map(|(t, k)| (TenantId::from_uuid(t), DataKeyId::from_uuid(k)))
            .collect(),
        tenants: tenants.into_iter().map(TenantId::from_uuid).collect(),
        rotated: rotated.into_iter().map(TenantId::from_uuid).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_does_not_watch_trusts_its_cache_and_one_that_stopped_looking_does_not() {
        // Made a while ago, so that a look can have begun before now.
        let watch = Watch {
            origin: Instant::now() - Duration::from_secs(60),
            ..Watch::default()
        };
        assert!(watch.trusts_cache());
        watch.looked(Instant::now(), Utc::now());
        assert!(watch.trusts_cache());
        watch.looked(Instant::now() - TRUST_FOR, Utc::now());
        assert!(!watch.trusts_cache());
    }

    #[test]
    fn each_look_reaches_back_past_the_last() {
        let watch = Watch::default();
        let now = Utc::now();
        assert_eq!(watch.since(now), now - LOOK_BACK);
        let earlier = now - TimeDelta::seconds(5);
        watch.looked(Instant::now(), earlier);
        assert_eq!(watch.since(now), earlier - LOOK_BACK);
    }
}
