//! The HTTP application: every role's routes on one server.

mod health;
#[cfg(feature = "bench")]
mod hello;
mod metrics;
pub mod openapi;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use cdp_api::ApiState;
use cdp_auth::{AuthOptions, Authenticator};
use cdp_config::Config;
use cdp_http::Routes;
use cdp_ingest::{IngestLimit, IngestOptions, IngestState};
use cdp_log::{GroupCommitOptions, GroupCommitter};
use cdp_storage::Backend;

use crate::cli::Roles;
use crate::{Error, Runtime};

/// Largest JSON body of the management API.
const API_BODY_LIMIT: usize = 256 * 1024;

pub struct Application {
    addr: SocketAddr,
    server: Server,
    projector: Option<cdp_projector::Projector>,
}

/// How long in-flight requests get to finish once the process is told to stop; with the
/// projector's turn after it, within Kubernetes' default 30 s grace period.
const SHUTDOWN_SECONDS: u64 = 20;
const PROJECTOR_STOP: Duration = Duration::from_secs(8);

impl Application {
    /// Every role in one process, as `cdp serve` runs by default.
    pub async fn build(runtime: Runtime, config: &Config) -> Result<Application, Error> {
        Self::build_with_roles(runtime, config, Roles::ALL).await
    }

    /// Starts the background parts of `roles` (the group committer, the projector, the
    /// dispatcher) and binds the listener (port 0 picks a free one).
    pub async fn build_with_roles(
        runtime: Runtime,
        config: &Config,
        roles: Roles,
    ) -> Result<Application, Error> {
        let committer = if roles.ingest {
            Some(start_committer(&runtime, config).await?)
        } else {
            None
        };
        let appended = || committer.as_ref().map(GroupCommitter::subscribe);
        let projector = if roles.projector {
            crate::projection::start(&runtime, config, appended()).await?
        } else {
            None
        };
        let network = crate::dispatch::network(config)?;
        let dispatcher = if roles.dispatcher {
            crate::dispatch::start(&runtime, config, appended()).await?
        } else {
            None
        };
        let counters = dispatcher.as_ref().map(|d| d.counters());
        let ingest = committer.map(|committer| {
            web::Data::new(IngestState::new(
                runtime.db.clone(),
                runtime.keyring.clone(),
                committer,
                runtime.redis.clone(),
                IngestOptions {
                    default_limit: IngestLimit {
                        events_per_second: config.ingest_events_per_second,
                        burst: config.ingest_burst,
                    },
                    max_concurrent_requests: config.ingest_max_concurrent_requests,
                },
            ))
        });
        let api = web::Data::new(ApiState {
            db: runtime.db.clone(),
            keyring: runtime.keyring.clone(),
            projector: projector.clone(),
            dispatcher,
            webhooks: cdp_dispatcher::WebhookClient::new(
                network.clone(),
                Duration::from_millis(config.delivery_timeout_ms),
            )
            .map_err(|e| Error::Config(format!("the webhook client: {e}")))?,
            network,
        });
        let authenticator = web::Data::new(Authenticator::new(
            runtime.db.clone(),
            runtime.keyring.clone(),
            runtime.redis.clone(),
            AuthOptions::default(),
        ));
        observe_over_otlp(ingest.as_ref(), &runtime.keyring, counters.clone());
        let runtime = web::Data::new(runtime);
        let metrics_token = web::Data::new(metrics::MetricsToken(config.metrics_token.clone()));
        let delivery_counters = web::Data::new(metrics::Deliveries(counters));

        let listener = TcpListener::bind(config.http_addr).map_err(|source| Error::Bind {
            addr: config.http_addr.to_string(),
            source,
        })?;
        let addr = listener.local_addr().map_err(Error::Server)?;
        let body_timeout = Duration::from_millis(config.http_body_timeout_ms);
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(runtime.clone())
                .app_data(api.clone())
                .app_data(authenticator.clone())
                .app_data(metrics_token.clone())
                .app_data(delivery_counters.clone())
                .app_data(cdp_http::json_config(API_BODY_LIMIT))
                .app_data(cdp_http::query_config())
                .app_data(cdp_http::path_config());
            if let Some(ingest) = &ingest {
                app = app.app_data(ingest.clone());
            }
            app.wrap(actix_web::middleware::from_fn(move |request, next| {
                cdp_http::body_deadline(body_timeout, request, next)
            }))
            .wrap(actix_web::middleware::from_fn(cdp_api::access_gate))
            .wrap(actix_web::middleware::from_fn(cdp_http::request_telemetry))
            .configure(|cfg| register(&mut Routes::serving(cfg), roles))
            .default_service(web::to(cdp_http::not_found))
        })
        .shutdown_timeout(SHUTDOWN_SECONDS)
        .listen(listener)
        .map_err(Error::Server)?
        .run();
        tracing::info!(address = %addr, ?roles, "listening on http://{addr}");
        Ok(Application {
            addr,
            server,
            projector,
        })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process is asked to stop. On SIGTERM the listener closes, requests
    /// in flight finish (and with them the group commits they wait for), then the
    /// projector commits the batch in hand with its checkpoint. SIGINT stops at once;
    /// nothing acknowledged is lost either way, since an answer follows its commit.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let served = self.server.await.map_err(Error::Server);
        tracing::info!("the HTTP server has stopped");
        if let Some(projector) = &self.projector {
            projector.stop(PROJECTOR_STOP).await;
            tracing::info!("the projector has stopped");
        }
        served
    }
}

/// The values `/metrics` reads from the parts of a running process, for OTLP export too
/// (a no-op unless it is configured). Projection lag comes from the database and is on
/// `/metrics` only.
fn observe_over_otlp(
    ingest: Option<&web::Data<IngestState>>,
    keyring: &cdp_keyring::Keyring,
    deliveries: Option<std::sync::Arc<cdp_dispatcher::DeliveryCounters>>,
) {
    use cdp_telemetry::metrics::observe;
    if let Some(ingest) = ingest.cloned() {
        observe(
            "cdp_ingest_queued_events",
            "Events waiting for a commit in this process.",
            "",
            move || vec![("", ingest.committer.queued_events() as u64)],
        );
    }
    let (hits, misses) = (keyring.clone(), keyring.clone());
    observe(
        "cdp_key_cache_hits_total",
        "Data-key lookups answered from this process's cache.",
        "",
        move || vec![("", hits.cache_stats().hits)],
    );
    observe(
        "cdp_key_cache_misses_total",
        "Data-key lookups that went to the database.",
        "",
        move || vec![("", misses.cache_stats().misses)],
    );
    if let Some(counters) = deliveries {
        observe(
            "cdp_deliveries_total",
            "Delivery attempts and routings of this process, by outcome.",
            "outcome",
            move || counters.by_outcome(),
        );
    }
}

/// Every route of `roles`; the OpenAPI document describes the same calls.
fn register(r: &mut Routes, roles: Roles) {
    health::routes(r);
    metrics::routes(r);
    openapi::routes(r);
    if roles.ingest {
        cdp_ingest::routes(r);
    }
    if roles.api {
        cdp_api::routes(r);
        // The console is pages over this same API: served where the API is.
        cdp_console::routes(r);
    }
    #[cfg(feature = "bench")]
    hello::routes(r);
}

async fn start_committer(runtime: &Runtime, config: &Config) -> Result<GroupCommitter, Error> {
    let committers = config.ingest_committers.unwrap_or(match runtime.backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 4,
    });
    // The committer's own pool, opened here on the main runtime rather than on whichever
    // HTTP worker happens to need a connection first.
    let commit_pool = runtime
        .dedicated_pool(committers as u32 + 1, Some(32))
        .await?;
    Ok(GroupCommitter::start(
        commit_pool,
        GroupCommitOptions {
            max_queued_events: config.ingest_max_queued_events,
            committers,
            ..GroupCommitOptions::default()
        },
    ))
}
