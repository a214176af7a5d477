//! Retention sweeps: the keys of periods past a tenant's retention are destroyed (the log
//! is untouched), and the tenant's profiles are rebuilt from what is still readable, so
//! that the projections forget the expired events too. The old generation serves reads
//! until the new one has caught up.

use std::time::Duration;

use cdp_audit::{Actor, AuditEntry, Chain, Outcome};
use cdp_keyring::{Keyring, RetentionSweep};
use cdp_profile_store as store;
use cdp_storage::DatabaseConnection;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::ProjectionError;

/// How often every process sweeps. Keys of a period all expire at once, so a sweep
/// finds something (and a rebuild starts) once per period of each tenant at most.
pub const RETENTION_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// One sweep as of `now`: what it destroyed, per tenant.
pub async fn sweep_retention(
    db: &DatabaseConnection,
    keyring: &Keyring,
    now: DateTime<Utc>,
) -> Result<Vec<RetentionSweep>, ProjectionError> {
    let swept = keyring
        .expire_retained(now)
        .await
        .map_err(ProjectionError::Keyring)?;
    for sweep in &swept {
        let txn = cdp_storage::begin_write(db).await?;
        let projected = store::active_generation(&txn, sweep.tenant)
            .await?
            .is_some();
        // A rebuild under way began before these keys went: it is replaced.
        let generation = if projected {
            Some(store::start_rebuild(&txn, sweep.tenant).await?)
        } else {
            None
        };
        let entry = AuditEntry::of(
            Actor::system(),
            None,
            "retention.expired",
            None,
            Outcome::Success,
            json!({
                "keys_shredded": sweep.keys_shredded,
                "cutoff": sweep.cutoff,
                "rebuild_generation": generation,
            }),
        );
        cdp_audit::append(&txn, Chain::Tenant(sweep.tenant), entry)
            .await
            .map_err(ProjectionError::Audit)?;
        txn.commit().await?;
        tracing::info!(
            tenant_id = %sweep.tenant,
            keys = sweep.keys_shredded,
            "destroyed the keys of periods past retention"
        );
    }
    Ok(swept)
}

pub(crate) async fn sweep_forever(db: DatabaseConnection, keyring: Keyring) {
    let mut every = tokio::time::interval(RETENTION_SWEEP_EVERY);
    loop {
        every.tick().await;
        if let Err(e) = sweep_retention(&db, &keyring, Utc::now()).await {
            tracing::warn!(error = %e, "retention sweep failed; it runs again later");
        }
    }
}
