//! The projector's tasks: workers that take tenants from the queue, a sweep that finds
//! lagging ones, and the listeners that wake them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cdp_domain::TenantId;
use cdp_keyring::Keyring;
use cdp_profile_store as store;
use cdp_storage::DatabaseConnection;
use chrono::TimeDelta;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::batch::{Settings, run};
use crate::cache::ProfileCaches;
use crate::queue::Queue;
use crate::{ProjectionError, listen};

#[derive(Clone, Debug)]
pub struct ProjectorOptions {
    /// Tenants worked at once.
    pub workers: usize,
    /// Events per transaction.
    pub batch_size: u64,
    /// Profiles kept in memory between batches, over all tenants (0: none).
    pub cache_profiles: usize,
    pub lease_ttl: TimeDelta,
    /// How often lagging tenants are looked for, in case a wake-up was missed.
    pub sweep_every: Duration,
    /// How long a tenant stopped at a failing event waits before it is tried again.
    pub retry_after: TimeDelta,
    /// With PostgreSQL: listen for appends made by other processes.
    pub database_url: Option<String>,
}

impl Default for ProjectorOptions {
    fn default() -> Self {
        Self {
            workers: 2,
            batch_size: 500,
            cache_profiles: 50_000,
            lease_ttl: TimeDelta::seconds(10),
            sweep_every: Duration::from_secs(5),
            retry_after: TimeDelta::seconds(30),
            database_url: None,
        }
    }
}

/// A running projector.
#[derive(Clone)]
pub struct Projector {
    queue: Arc<Queue>,
    caches: Arc<ProfileCaches>,
    stopping: Arc<AtomicBool>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Projector {
    /// Starts the projector's tasks on the current runtime. `appended` is the group
    /// committer's signal of tenants whose logs just grew.
    pub fn start(
        db: DatabaseConnection,
        keyring: Keyring,
        options: ProjectorOptions,
        appended: Option<broadcast::Receiver<TenantId>>,
    ) -> Projector {
        let queue = Arc::new(Queue::default());
        let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        if let Some(mut appended) = appended {
            let queue = queue.clone();
            tokio::spawn(async move {
                loop {
                    match appended.recv().await {
                        Ok(tenant) => queue.wake(tenant),
                        // Missed some: the sweep finds them.
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        if let Some(url) = options.database_url.clone() {
            listen::spawn(url, queue.clone());
        }
        {
            let (db, queue, options) = (db.clone(), queue.clone(), options.clone());
            tokio::spawn(async move {
                let mut every = tokio::time::interval(options.sweep_every);
                loop {
                    every.tick().await;
                    match store::lagging_tenants(&db, options.retry_after).await {
                        Ok(tenants) => tenants.into_iter().for_each(|t| queue.wake(t)),
                        Err(e) => tracing::warn!(error = %e, "could not look for lagging tenants"),
                    }
                    // Memberships that time changes, and segments still to backfill.
                    match store::tenants_with_audience_work(&db, chrono::Utc::now()).await {
                        Ok(tenants) => tenants.into_iter().for_each(|t| queue.wake(t)),
                        Err(e) => {
                            tracing::warn!(error = %e, "could not look for segments to evaluate")
                        }
                    }
                }
            });
        }
        tokio::spawn(purge(db.clone()));
        tokio::spawn(crate::retention::sweep_forever(db.clone(), keyring.clone()));
        let caches = Arc::new(ProfileCaches::new(options.cache_profiles));
        let stopping = Arc::new(AtomicBool::new(false));
        let workers = (0..options.workers.max(1))
            .map(|_| {
                let worker = Worker {
                    db: db.clone(),
                    keyring: keyring.clone(),
                    options: options.clone(),
                    holder: holder.clone(),
                    caches: caches.clone(),
                    stopping: stopping.clone(),
                };
                let queue = queue.clone();
                tokio::spawn(async move {
                    while !worker.stopping.load(Ordering::Acquire) {
                        let tenant = tokio::select! {
                            tenant = queue.next() => tenant,
                            () = queue.stopped() => return,
                        };
                        work(&worker, tenant).await;
                        queue.done(tenant);
                    }
                })
            })
            .collect();
        Projector {
            queue,
            caches,
            stopping,
            workers: Arc::new(Mutex::new(workers)),
        }
    }

    /// Lets every worker commit the batch in hand (with its checkpoint) and release its
    /// lease, then returns; no batch starts meanwhile. Waits at most `patience`: what is
    /// not committed by then is rolled back, and resumes from the last checkpoint.
    pub async fn stop(&self, patience: Duration) {
        self.stopping.store(true, Ordering::Release);
        self.queue.stop();
        let workers: Vec<JoinHandle<()>> = std::mem::take(&mut *self.workers.lock());
        let all = futures::future::join_all(workers);
        if tokio::time::timeout(patience, all).await.is_err() {
            tracing::warn!("projector workers did not stop in time; their open batches roll back");
        }
    }

    /// Drops every profile of the tenant kept in memory (its workspace is being deleted).
    pub fn forget_tenant(&self, tenant: TenantId) {
        self.caches.forget_tenant(tenant);
    }

    /// Asks for a tenant to be brought up to date (after a rebuild request, say).
    pub fn wake(&self, tenant: TenantId) {
        self.queue.wake(tenant);
    }
}

/// What a worker task holds.
struct Worker {
    db: DatabaseConnection,
    keyring: Keyring,
    options: ProjectorOptions,
    holder: String,
    caches: Arc<ProfileCaches>,
    stopping: Arc<AtomicBool>,
}

async fn work(worker: &Worker, tenant: TenantId) {
    let Worker {
        db,
        keyring,
        options,
        holder,
        caches,
        stopping,
    } = worker;
    let acquired = {
        let _turn = cdp_storage::write_turn(db).await;
        store::acquire_lease(db, tenant, holder, options.lease_ttl).await
    };
    match acquired {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, tenant_id = %tenant, "could not take a projector lease");
            return;
        }
    }
    let settings = Settings {
        db,
        keyring,
        holder,
        batch_size: options.batch_size,
        lease_ttl: options.lease_ttl,
        retry_after: options.retry_after,
        caches: Some(caches),
        stopping: Some(stopping),
    };
    let span = tracing::info_span!("projector.run", tenant_id = %tenant);
    match run(&settings, tenant).instrument(span).await {
        Ok(_) | Err(ProjectionError::Event { .. }) => {}
        Err(ProjectionError::LeaseLost) => {
            tracing::warn!(tenant_id = %tenant, "lost the projector lease to another process");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, tenant_id = %tenant, "projection paused; it resumes from its checkpoint");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let released = {
        let _turn = cdp_storage::write_turn(db).await;
        store::release_lease(db, tenant, holder).await
    };
    if let Err(e) = released {
        tracing::warn!(error = %e, tenant_id = %tenant, "could not release a projector lease");
    }
}

/// Deletes the rows of retired generations (replaced by a rebuild, or of a deleted
/// workspace) and the timelines of erased profiles in small steps, with a pause between
/// them so that other writers get the database in between; looks for more every second
/// once none are left.
async fn purge(db: DatabaseConnection) {
    const BETWEEN_STEPS: Duration = Duration::from_millis(20);
    const IDLE: Duration = Duration::from_secs(1);
    loop {
        let pause = match store::purge_step(&db).await {
            Ok(Some(step)) => {
                if step.finished_generation {
                    tracing::info!("removed the rows of a retired generation");
                }
                BETWEEN_STEPS
            }
            Ok(None) => match purge_erased(&db).await {
                Ok(true) => BETWEEN_STEPS,
                Ok(false) => IDLE,
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove the timeline of an erased profile");
                    IDLE
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "could not remove rows of a retired generation");
                IDLE
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// One step of removing erased profiles' timelines; once none are left, completes the
/// erasures that are purged and old enough to have reached every process's key cache.
/// Whether there was anything to do.
async fn purge_erased(db: &DatabaseConnection) -> Result<bool, ProjectionError> {
    if store::purge_erasure_step(db).await?.is_some() {
        return Ok(true);
    }
    let reached_everywhere = chrono::Utc::now()
        - chrono::TimeDelta::from_std(cdp_keyring::SHREDDED_EVERYWHERE_AFTER)
            .expect("a few seconds fit");
    let due = cdp_privacy::erasures_in_progress(db, reached_everywhere, 100)
        .await
        .map_err(ProjectionError::Privacy)?;
    for (tenant, request) in due {
        if store::erasure_purge_pending(db, tenant, request.as_uuid()).await? {
            continue;
        }
        complete_erasure(db, tenant, request).await?;
    }
    Ok(false)
}

async fn complete_erasure(
    db: &DatabaseConnection,
    tenant: cdp_domain::TenantId,
    request: cdp_domain::PrivacyRequestId,
) -> Result<(), ProjectionError> {
    let txn = cdp_storage::begin_write(db).await?;
    let completed = cdp_privacy::mark_completed(&txn, tenant, request, chrono::Utc::now())
        .await
        .map_err(ProjectionError::Privacy)?;
    let Some(receipt) = completed else {
        return Ok(());
    };
    let entry = cdp_audit::AuditEntry::of(
        cdp_audit::Actor::system(),
        None,
        "privacy.erasure.completed",
        Some(("privacy_request", request.to_string())),
        cdp_audit::Outcome::Success,
        serde_json::json!({ "erased_at": receipt.erased_at, "erasure_audit_seq": receipt.audit_seq }),
    );
    cdp_audit::append(&txn, cdp_audit::Chain::Tenant(tenant), entry)
        .await
        .map_err(ProjectionError::Audit)?;
    txn.commit().await?;
    tracing::info!(tenant_id = %tenant, request_id = %request, "an erasure is complete");
    Ok(())
}
