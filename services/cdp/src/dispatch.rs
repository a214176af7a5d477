//! The dispatcher role's settings, and its start on a pool of its own.

use std::time::Duration;

use cdp_config::Config;
use cdp_destinations::{Breaker, NetworkPolicy, RetryPolicy};
use cdp_dispatcher::{Dispatcher, DispatcherOptions};
use cdp_domain::TenantId;

use crate::{Error, Runtime};

/// The addresses destinations may reach, from `destinations_allowed_networks`.
pub(crate) fn network(config: &Config) -> Result<NetworkPolicy, Error> {
    NetworkPolicy::parse(&config.destinations_allowed_networks)
        .map_err(|e| Error::Config(format!("destinations_allowed_networks: {e}")))
}

pub(crate) fn options(config: &Config) -> Result<DispatcherOptions, Error> {
    let first_delay = Duration::from_millis(config.delivery_first_retry_ms);
    Ok(DispatcherOptions {
        retry: RetryPolicy {
            first_delay,
            max_delay: Duration::from_secs(3600).max(first_delay),
            window: Duration::from_secs(config.delivery_window_seconds),
        },
        breaker: Breaker {
            cooldown: Duration::from_millis(config.delivery_breaker_cooldown_ms),
            ..Breaker::default()
        },
        timeout: Duration::from_millis(config.delivery_timeout_ms),
        network: network(config)?,
        destinations_at_once: config.dispatcher_concurrency,
        ..DispatcherOptions::default()
    })
}

/// Starts the dispatcher, unless this process leaves delivery to others
/// (`dispatcher_concurrency = 0`).
pub(crate) async fn start(
    runtime: &Runtime,
    config: &Config,
    appended: Option<tokio::sync::broadcast::Receiver<TenantId>>,
) -> Result<Option<Dispatcher>, Error> {
    if config.dispatcher_concurrency == 0 {
        tracing::info!("dispatcher off in this process (dispatcher_concurrency = 0)");
        return Ok(None);
    }
    let pool = runtime.dedicated_pool(4, None).await?;
    Ok(Some(Dispatcher::start(
        pool,
        runtime.keyring.clone(),
        options(config)?,
        appended,
    )?))
}
