//! The ingest role: the tracking API (the tracking spec's HTTP endpoints), webhook
//! sources, and bulk imports. Every path ends in the same place: validated events, sealed
//! under their subject's key, appended through the group committer, acknowledged only once
//! committed.

mod auth;
mod body;
mod dedupe;
mod error;
mod import;
mod limiter;
mod pipeline;
mod refusals;
mod tracking;
mod webhook;

use std::sync::Arc;

use cdp_keyring::Keyring;
use cdp_log::GroupCommitter;
use cdp_storage::DatabaseConnection;
use cdp_storage::FastPath;
use cdp_tenancy::WriteKeyCache;

pub use error::IngestError;
pub use import::{CsvMapping, ImportFormat, ImportJob, LineError, run_import};
pub use limiter::{IngestLimit, RateLimiter};
pub use pipeline::{Stored, store};

/// Settings of the ingest role.
#[derive(Clone, Debug)]
pub struct IngestOptions {
    /// The rate limit of tenants that have none of their own.
    pub default_limit: IngestLimit,
    /// Tracking and webhook requests this process works on at once; past it a request is
    /// refused with 503 before its body is read (see [`IngestState::admit`]).
    pub max_concurrent_requests: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            default_limit: IngestLimit {
                events_per_second: 10_000,
                burst: 20_000,
            },
            max_concurrent_requests: 64,
        }
    }
}

/// What the ingest handlers share.
#[derive(Clone)]
pub struct IngestState {
    pub db: DatabaseConnection,
    pub keyring: Keyring,
    pub committer: GroupCommitter,
    limiter: Arc<RateLimiter>,
    dedupe: Option<dedupe::RedisDedupe>,
    write_keys: Arc<WriteKeyCache>,
    suppressions: Arc<cdp_privacy::SuppressionCache>,
    suppressed: Arc<std::sync::atomic::AtomicU64>,
    admission: Arc<tokio::sync::Semaphore>,
    refusals: Arc<refusals::Refusals>,
}

impl IngestState {
    pub fn new(
        db: DatabaseConnection,
        keyring: Keyring,
        committer: GroupCommitter,
        redis: Option<FastPath>,
        options: IngestOptions,
    ) -> Self {
        Self {
            limiter: Arc::new(RateLimiter::new(
                db.clone(),
                redis.clone(),
                options.default_limit,
            )),
            dedupe: redis.map(dedupe::RedisDedupe::new),
            write_keys: Arc::new(WriteKeyCache::default()),
            suppressions: Arc::default(),
            suppressed: Arc::default(),
            admission: Arc::new(tokio::sync::Semaphore::new(
                options.max_concurrent_requests.max(1),
            )),
            refusals: Arc::new(refusals::Refusals::new(db.clone())),
            db,
            keyring,
            committer,
        }
    }

    /// A place among the requests worked on at once, or 503 at once. Past the commit
    /// pipeline's capacity more requests in flight only add waiting, and each one's parsing
    /// and sealing takes turns on the same threads as every other request: bounding them
    /// keeps health checks and the management API answering while ingestion is overloaded,
    /// and refusing costs nothing, since the body is not read.
    pub(crate) fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, IngestError> {
        self.admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| IngestError::Overloaded)
    }

    /// Events dropped since start because they named a suppressed person.
    pub fn suppressed_events(&self) -> u64 {
        self.suppressed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Registers the tracking API. The state must be registered as `web::Data<IngestState>`.
pub fn routes(r: &mut cdp_http::Routes) {
    tracking::routes(r);
    webhook::routes(r);
    import::routes(r);
}
