//! The projector role from the command line: its options, `cdp project` (the role alone,
//! for more projector processes on one PostgreSQL) and `cdp rebuild`.

use std::time::{Duration, Instant};

use cdp_config::Config;
use cdp_domain::TenantId;
use cdp_profile_store as store;
use cdp_projector::{Projector, ProjectorOptions};
use chrono::TimeDelta;

use crate::{Error, Runtime};

pub(crate) fn options(config: &Config, runtime: &Runtime) -> ProjectorOptions {
    ProjectorOptions {
        workers: config.projector_workers,
        batch_size: config.projector_batch_size,
        cache_profiles: config.projector_cache_profiles,
        lease_ttl: TimeDelta::milliseconds(config.projector_lease_ms as i64),
        sweep_every: Duration::from_millis(config.projector_sweep_ms),
        database_url: runtime.postgres_url(),
        ..ProjectorOptions::default()
    }
}

/// Starts the projector on a pool of its own, unless this process is told to leave
/// projection to others (`projector_workers = 0`).
pub(crate) async fn start(
    runtime: &Runtime,
    config: &Config,
    appended: Option<tokio::sync::broadcast::Receiver<TenantId>>,
) -> Result<Option<Projector>, Error> {
    if config.projector_workers == 0 {
        tracing::info!("projector off in this process (projector_workers = 0)");
        return Ok(None);
    }
    // A large page cache for the projector's few connections only: its batches touch index
    // pages all over the profile tables, which with SQLite's 2 MB would be read back from
    // the file again and again.
    let pool = runtime
        .dedicated_pool(config.projector_workers as u32 + 2, Some(16))
        .await?;
    Ok(Some(Projector::start(
        pool,
        runtime.keyring.clone(),
        options(config, runtime),
        appended,
    )))
}

/// `cdp project`: the projector alone, until SIGINT or SIGTERM.
pub(crate) async fn run_alone(runtime: Runtime, config: &Config) -> Result<(), Error> {
    if config.projector_workers == 0 {
        return Err(Error::Projection(
            "projector_workers is 0: this process would do nothing".into(),
        ));
    }
    let projector = start(&runtime, config, None).await?;
    tracing::info!(workers = config.projector_workers, "projector running");
    stopped().await;
    tracing::info!("projector stopping");
    if let Some(projector) = projector {
        projector.stop(Duration::from_secs(8)).await;
    }
    Ok(())
}

async fn stopped() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `cdp rebuild`: replays the tenant's log into a new generation and waits until it has
/// taken over. A running server keeps serving the old profiles meanwhile, and may do the
/// work itself: whoever holds the tenant's lease projects.
pub(crate) async fn rebuild(
    runtime: &Runtime,
    config: &Config,
    tenant: TenantId,
) -> Result<serde_json::Value, Error> {
    if cdp_tenancy::find_tenant(&runtime.db, tenant)
        .await?
        .is_none()
    {
        return Err(Error::Projection(format!("no tenant {tenant}")));
    }
    let started = Instant::now();
    let generation = store::start_rebuild(&runtime.db, tenant)
        .await
        .map_err(projection)?;
    let holder = format!("cli-{}", std::process::id());
    let mut events = 0;
    loop {
        let building = store::generations(&runtime.db, tenant)
            .await
            .map_err(projection)?
            .into_iter()
            .find(|g| g.generation == generation);
        let Some(building) = building else {
            return Err(Error::Projection(
                "the rebuild was replaced by a newer one".into(),
            ));
        };
        if building.status == store::Status::Active {
            break;
        }
        if let Some(failure) = &building.failure {
            return Err(Error::Projection(format!(
                "the rebuild stopped at event {}: {failure}",
                building.failed_seq.unwrap_or_default()
            )));
        }
        if store::acquire_lease(&runtime.db, tenant, &holder, TimeDelta::seconds(30))
            .await
            .map_err(projection)?
        {
            let outcome = cdp_projector::project_tenant(
                &runtime.db,
                &runtime.keyring,
                tenant,
                &holder,
                config.projector_batch_size,
                None,
            )
            .await;
            store::release_lease(&runtime.db, tenant, &holder)
                .await
                .map_err(projection)?;
            match outcome {
                Ok(progress) => events += progress.events,
                // The failure is recorded on the generation; the next look reports it.
                Err(cdp_projector::ProjectionError::Event { .. }) => {}
                Err(e) => return Err(Error::Projection(crate::error_chain(&e))),
            }
        } else {
            // A server is projecting this tenant; it does the rebuild.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(serde_json::json!({
        "tenant_id": tenant,
        "generation": generation,
        "events_projected_here": events,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

fn projection(e: store::StoreError) -> Error {
    Error::Projection(crate::error_chain(&e))
}
