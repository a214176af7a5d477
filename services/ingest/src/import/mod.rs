//! Bulk import of historical data: NDJSON of tracking-spec events, or CSV of profiles with
//! a column mapping. The input is streamed (never read whole into memory), each line is
//! validated on its own (bad lines go to the job's error report, good ones are stored), and
//! every event gets a message id derived from its line when it has none, so running the
//! same import again stores nothing twice.

mod api;
mod bridge;
mod csv_rows;
mod job;
mod parse;

use std::io::Read;
use std::time::{Duration, Instant};

use cdp_domain::{SourceId, TenantId};
use cdp_tracking::TrackedEvent;
use chrono::Utc;

pub(crate) use api::routes;
pub use csv_rows::CsvMapping;
pub use job::{ImportJob, LineError};

use crate::{IngestError, IngestState, store};
use parse::Item;

/// What the input holds.
#[derive(Clone, Debug)]
pub enum ImportFormat {
    /// One tracking-spec event (with its `type`) per line.
    Ndjson,
    /// A header row, then one profile per row, turned into identify events by the mapping.
    Csv(CsvMapping),
}

impl ImportFormat {
    fn name(&self) -> &'static str {
        match self {
            ImportFormat::Ndjson => "ndjson",
            ImportFormat::Csv(_) => "csv",
        }
    }
}

/// Events stored per group-committed chunk.
const CHUNK: usize = 500;
/// How often progress is written to the job and reported.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Runs an import to its end, recording it as a job. `on_progress` sees the job as it goes.
pub async fn run_import(
    state: &IngestState,
    tenant: TenantId,
    source: Option<SourceId>,
    format: ImportFormat,
    input: Box<dyn Read + Send>,
    on_progress: &mut (dyn FnMut(&ImportJob) + Send),
) -> Result<ImportJob, IngestError> {
    let mut job = ImportJob::new(tenant, source, format.name());
    job::insert(&state.db, &job)
        .await
        .map_err(IngestError::unavailable)?;
    // Should this future be dropped (the client went away, the server is stopping), the job
    // is marked failed rather than left running for ever.
    let guard = job::InterruptGuard::new(state.db.clone(), tenant, job.id);

    let received_at = Utc::now();
    let (items, mut receiver) = tokio::sync::mpsc::channel::<Item>(1024);
    let parser =
        tokio::task::spawn_blocking(move || parse::parse(format, input, received_at, items));

    let mut chunk: Vec<TrackedEvent> = Vec::with_capacity(CHUNK);
    let mut last_report = Instant::now();
    let outcome: Result<(), String> = async {
        while let Some(item) = receiver.recv().await {
            match item {
                Item::Event { line, event } => {
                    job.lines_read = job.lines_read.max(line);
                    chunk.push(event);
                    if chunk.len() >= CHUNK {
                        store_chunk(state, &mut job, &mut chunk).await?;
                    }
                }
                Item::Invalid { line, message } => {
                    job.lines_read = job.lines_read.max(line);
                    job.record_error(line, message);
                }
                Item::Fatal(message) => return Err(message),
            }
            if last_report.elapsed() >= PROGRESS_EVERY {
                last_report = Instant::now();
                job::update(&state.db, &job)
                    .await
                    .map_err(|e| e.to_string())?;
                on_progress(&job);
            }
        }
        store_chunk(state, &mut job, &mut chunk).await
    }
    .await;
    // The parser ends when its input does, or when nobody listens any more.
    drop(receiver);
    let parsed = parser.await;

    match (outcome, parsed) {
        (Ok(()), Ok(())) => job.finish(None),
        (Err(reason), _) => job.finish(Some(reason)),
        (Ok(()), Err(_)) => job.finish(Some("reading the input failed unexpectedly".into())),
    }
    job::update(&state.db, &job)
        .await
        .map_err(IngestError::unavailable)?;
    guard.disarm();
    on_progress(&job);
    tracing::info!(tenant_id = %tenant, import_id = %job.id, status = job.status, "import finished");
    Ok(job)
}

/// Stores a chunk, waiting while the commit queue is full: a bulk load yields to live
/// traffic rather than failing.
async fn store_chunk(
    state: &IngestState,
    job: &mut ImportJob,
    chunk: &mut Vec<TrackedEvent>,
) -> Result<(), String> {
    if chunk.is_empty() {
        return Ok(());
    }
    let events = std::mem::take(chunk);
    cdp_telemetry::metrics::INGEST_BATCH_EVENTS.observe("import", events.len() as f64);
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        match store(state, job.tenant_id, job.source_id, events.clone()).await {
            Ok(stored) => {
                job.events_stored += stored.stored as i64;
                job.events_duplicate += stored.duplicates as i64;
                return Ok(());
            }
            Err(IngestError::Overloaded) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => return Err(format!("storing events failed: {e}")),
        }
    }
}
