//! The HTTP application: every role's routes on one server.

mod health;
#[cfg(feature = "bench")]
mod hello;
mod metrics;

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use cdp_api::ApiState;
use cdp_auth::{AuthOptions, Authenticator};
use cdp_config::Config;
use cdp_ingest::{IngestLimit, IngestOptions, IngestState};
use cdp_log::{GroupCommitOptions, GroupCommitter};
use cdp_storage::Backend;

use crate::{Error, Runtime};

/// Largest JSON body of the management API.
const API_BODY_LIMIT: usize = 256 * 1024;

pub struct Application {
    addr: SocketAddr,
    server: Server,
}

impl Application {
    /// Starts the background parts (the group committer, the projector) and binds the listener (port 0
    /// picks a free one).
    pub async fn build(runtime: Runtime, config: &Config) -> Result<Application, Error> {
        let committers = config.ingest_committers.unwrap_or(match runtime.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        });
        // The committer's own pool, opened here on the main runtime rather than on whichever
        // HTTP worker happens to need a connection first.
        let commit_pool = runtime
            .dedicated_pool(committers as u32 + 1, Some(32))
            .await?;
        let committer = GroupCommitter::start(
            commit_pool,
            GroupCommitOptions {
                max_queued_events: config.ingest_max_queued_events,
                committers,
                ..GroupCommitOptions::default()
            },
        );
        let projector =
            crate::projection::start(&runtime, config, Some(committer.subscribe())).await?;
        let network = crate::dispatch::network(config)?;
        let dispatcher =
            crate::dispatch::start(&runtime, config, Some(committer.subscribe())).await?;
        let counters = dispatcher.as_ref().map(|d| d.counters());
        let ingest = web::Data::new(IngestState::new(
            runtime.db.clone(),
            runtime.keyring.clone(),
            committer,
            runtime.redis.clone(),
            IngestOptions {
                default_limit: IngestLimit {
                    events_per_second: config.ingest_events_per_second,
                    burst: config.ingest_burst,
                },
            },
        ));
        let api = web::Data::new(ApiState {
            db: runtime.db.clone(),
            keyring: runtime.keyring.clone(),
            projector,
            dispatcher,
            network,
        });
        let authenticator = web::Data::new(Authenticator::new(
            runtime.db.clone(),
            runtime.keyring.clone(),
            runtime.redis.clone(),
            AuthOptions::default(),
        ));
        let runtime = web::Data::new(runtime);
        let metrics_token = web::Data::new(metrics::MetricsToken(config.metrics_token.clone()));
        let delivery_counters = web::Data::new(metrics::Deliveries(counters));

        let listener = TcpListener::bind(config.http_addr).map_err(|source| Error::Bind {
            addr: config.http_addr.to_string(),
            source,
        })?;
        let addr = listener.local_addr().map_err(Error::Server)?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(runtime.clone())
                .app_data(ingest.clone())
                .app_data(api.clone())
                .app_data(authenticator.clone())
                .app_data(metrics_token.clone())
                .app_data(delivery_counters.clone())
                .app_data(cdp_http::json_config(API_BODY_LIMIT))
                .app_data(cdp_http::query_config())
                .app_data(cdp_http::path_config())
                .wrap(actix_web::middleware::from_fn(cdp_api::access_gate))
                .configure(health::routes)
                .configure(metrics::routes)
                .configure(cdp_ingest::routes)
                .configure(cdp_api::routes)
                .configure(|cfg| {
                    #[cfg(feature = "bench")]
                    hello::routes(cfg);
                    let _ = cfg;
                })
                .default_service(web::to(cdp_http::not_found))
        })
        .listen(listener)
        .map_err(Error::Server)?
        .run();
        tracing::info!(address = %addr, "listening on http://{addr}");
        Ok(Application { addr, server })
    }

    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process is asked to stop (SIGINT or SIGTERM); in-flight requests
    /// are finished first.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        self.server.await.map_err(Error::Server)
    }
}
