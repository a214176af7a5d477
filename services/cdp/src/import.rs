//! `cdp import FILE`: the same import the API runs, from a file, with a progress bar.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cdp_config::Config;
use cdp_domain::{SourceId, TenantId};
use cdp_ingest::{CsvMapping, ImportFormat, ImportJob, IngestOptions, IngestState, run_import};
use cdp_log::{GroupCommitOptions, GroupCommitter};
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::ImportArgs;
use crate::{Error, Runtime};

/// Counts the bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub(crate) async fn import(args: ImportArgs, config: &Config) -> Result<ImportJob, Error> {
    let tenant: TenantId = args.tenant.parse()?;
    let source: Option<SourceId> = args.source.as_deref().map(str::parse).transpose()?;
    let name = args.file.to_string_lossy().to_string();
    let plain_name = name.trim_end_matches(".gz");
    let format = match args.format.as_deref() {
        Some(f) => f.to_owned(),
        None if plain_name.ends_with(".csv") => "csv".to_owned(),
        None => "ndjson".to_owned(),
    };
    let format = match (format.as_str(), args.mapping) {
        ("ndjson", None) => ImportFormat::Ndjson,
        ("csv", Some(mapping)) => {
            let text = match mapping.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| Error::Import(format!("{path}: {e}")))?,
                None => mapping,
            };
            ImportFormat::Csv(CsvMapping::from_json(&text).map_err(Error::Import)?)
        }
        ("csv", None) => return Err(Error::Import("a CSV import needs --mapping".into())),
        ("ndjson", Some(_)) => {
            return Err(Error::Import("an NDJSON import takes no --mapping".into()));
        }
        (other, _) => {
            return Err(Error::Import(format!(
                "unknown format {other:?}: use ndjson or csv"
            )));
        }
    };

    let (raw, total): (Box<dyn Read + Send>, Option<u64>) = if name == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(&args.file).map_err(|e| Error::Import(format!("{name}: {e}")))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let read = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: raw,
        read: read.clone(),
    };
    let input: Box<dyn Read + Send> = if name.ends_with(".gz") {
        Box::new(MultiGzDecoder::new(counted))
    } else {
        Box::new(counted)
    };

    let runtime = Runtime::start(config).await?;
    if let Some(source) = source
        && cdp_tenancy::find_source(&runtime.db, tenant, source)
            .await?
            .is_none()
    {
        return Err(Error::Import(format!(
            "tenant {tenant} has no source {source}"
        )));
    }
    let committer = GroupCommitter::start(runtime.db.clone(), GroupCommitOptions::default());
    let state = IngestState::new(
        runtime.db.clone(),
        runtime.keyring.clone(),
        committer,
        runtime.redis.clone(),
        IngestOptions::default(),
    );

    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
                .expect("valid template"),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    let mut progress = |job: &ImportJob| {
        bar.set_position(read.load(Ordering::Relaxed));
        bar.set_message(format!(
            "{} lines, {} stored, {} duplicates, {} failed",
            job.lines_read, job.events_stored, job.events_duplicate, job.lines_failed
        ));
    };
    let job = run_import(&state, tenant, source, format, input, &mut progress).await?;
    bar.finish();
    Ok(job)
}
