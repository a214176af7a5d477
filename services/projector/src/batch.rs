//! Projecting a tenant: batch by batch, each batch in one transaction with its checkpoint.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use cdp_domain::{DataKeyId, EventId, ProfileId, TenantId};
use cdp_keyring::Keyring;
use cdp_log::NewEvent;
use cdp_profile_store::{self as store, GenerationState, Status};
use cdp_profiles::WorkingSet;
use cdp_storage::{DatabaseConnection, begin_write};
use cdp_telemetry::metrics;
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::ProjectionError;
use crate::audience::{self, Plan};
use crate::cache::{GenerationCache, ProfileCaches};
use crate::decode::{Decoded, Observed, decode_batch};

/// How many times the configured batch size a generation far behind the log uses.
const CATCH_UP_FACTOR: i64 = 4;

/// Batches one generation takes in a row before the others get their turn.
const TURN_BATCHES: usize = 8;

/// What one call of [`project_tenant`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub batches: u64,
    pub events: u64,
    /// A rebuilt generation took over.
    pub switched: bool,
}

pub(crate) struct Settings<'a> {
    pub db: &'a DatabaseConnection,
    pub keyring: &'a Keyring,
    pub holder: &'a str,
    pub batch_size: u64,
    pub lease_ttl: TimeDelta,
    pub retry_after: TimeDelta,
    pub caches: Option<&'a ProfileCaches>,
    /// Set when the process is stopping: the batch in hand commits, no further one starts.
    pub stopping: Option<&'a AtomicBool>,
}

impl Settings<'_> {
    fn stopping(&self) -> bool {
        self.stopping.is_some_and(|s| s.load(Ordering::Acquire))
    }
}

/// Projects the tenant until every generation has caught up with its log. The caller holds
/// the tenant's lease (every commit renews it, and fails if it was lost). With a cache,
/// profiles are kept in it between batches and between calls.
pub async fn project_tenant(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    holder: &str,
    batch_size: u64,
    cache: Option<&ProfileCaches>,
) -> Result<Progress, ProjectionError> {
    let settings = Settings {
        db,
        keyring,
        holder,
        batch_size,
        lease_ttl: TimeDelta::seconds(30),
        retry_after: TimeDelta::zero(),
        caches: cache,
        stopping: None,
    };
    run(&settings, tenant).await
}

/// One step of the work time and new definitions bring to segments (a page of profiles
/// due to be evaluated again, or a page of a backfill), as if it were `now`. The running
/// projector takes these steps by itself at the real time; tests move the clock. The
/// caller holds the tenant's lease. Whether there was anything to do.
pub async fn audience_step(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    holder: &str,
    now: DateTime<Utc>,
) -> Result<bool, ProjectionError> {
    let settings = Settings {
        db,
        keyring,
        holder,
        batch_size: 500,
        lease_ttl: TimeDelta::seconds(30),
        retry_after: TimeDelta::zero(),
        caches: None,
        stopping: None,
    };
    let active = store::ensure_active(db, tenant).await?;
    audience::step(&settings, tenant, &active, now).await
}

pub(crate) async fn run(s: &Settings<'_>, tenant: TenantId) -> Result<Progress, ProjectionError> {
    let mut progress = Progress::default();
    store::ensure_active(s.db, tenant).await?;
    loop {
        if s.stopping() {
            return Ok(progress);
        }
        let head = cdp_log::head(s.db, tenant).await?.0;
        // Definitions may have changed, or a rebuild started, since the last turn.
        if audience::keep_needed(s, tenant, &store::generations(s.db, tenant).await?).await? {
            continue;
        }
        let generations = store::generations(s.db, tenant).await?;
        let mut moved = false;
        for generation in &generations {
            let waiting = generation
                .failed_at
                .is_some_and(|at| Utc::now() - at < s.retry_after);
            if generation.last_seq < head && !waiting {
                let turn = match catch_up(s, tenant, generation, head).await {
                    // A rebuild was restarted under us: look at the generations again.
                    Err(ProjectionError::Store(store::StoreError::Superseded)) => Turn::default(),
                    other => other?,
                };
                progress.events += turn.events;
                progress.batches += turn.batches;
                moved = true;
            }
        }
        if switch_if_caught_up(s, tenant, &generations, head).await? {
            progress.switched = true;
            continue;
        }
        if !moved {
            // Caught up: what time and new definitions bring, a page at a time, looking
            // at the log again in between.
            let active = generations.iter().find(|g| g.status == Status::Active);
            let started = std::time::Instant::now();
            let stepped = match active {
                Some(active) => {
                    audience::step(s, tenant, active, Utc::now())
                        .instrument(tracing::info_span!("segments.evaluate", tenant_id = %tenant))
                        .await?
                }
                None => false,
            };
            if stepped {
                metrics::SEGMENT_EVALUATION_SECONDS.observe_duration("step", started.elapsed());
                continue;
            }
            return Ok(progress);
        }
    }
}

/// What one turn of [`catch_up`] did.
#[derive(Default)]
struct Turn {
    events: u64,
    batches: u64,
}

/// Brings a generation forward by up to [`TURN_BATCHES`] batches, then lets the caller
/// look at the other generations (so a long rebuild never stops the active one from
/// following the log).
///
/// Reading and opening a batch needs nothing the batch before it writes, so a reader task
/// does that one batch ahead while this one loads, applies and commits: the two halves
/// take about as long as each other, and run on both cores at once.
async fn catch_up(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    head: i64,
) -> Result<Turn, ProjectionError> {
    // Far behind (a backlog, a rebuild): bigger batches, which cost less per event;
    // close to the head: the configured size, for short transactions.
    let size = if head - generation.last_seq > CATCH_UP_FACTOR * 10 * s.batch_size as i64 {
        s.batch_size * CATCH_UP_FACTOR as u64
    } else {
        s.batch_size
    };
    let (decoded_tx, mut decoded_rx) = mpsc::channel(1);
    let reader = {
        let (db, keyring, rules) = (s.db.clone(), s.keyring.clone(), generation.rules.clone());
        let mut after = generation.last_seq;
        tokio::spawn(async move {
            for _ in 0..TURN_BATCHES {
                let decoded = decode_batch(&db, &keyring, tenant, &rules, after, size).await;
                let done = match &decoded {
                    Ok(Some(d)) => {
                        after = d.last;
                        d.failure.is_some() || d.erasure.is_some() || d.events < size
                    }
                    Ok(None) => return,
                    Err(_) => true,
                };
                if decoded_tx.send(decoded).await.is_err() || done {
                    return;
                }
            }
        })
    };
    let _reader = AbortOnDrop(reader);
    let mut turn = Turn::default();
    let mut applied_so_far = generation.events_applied;
    // Taken out while in use, put back only if every batch committed (see `cache`).
    let mut cache = s
        .caches
        .and_then(|c| c.take(tenant, generation.generation, generation.last_seq));
    while let Some(decoded) = decoded_rx.recv().await {
        let Some(decoded) = decoded? else {
            break;
        };
        if s.stopping() {
            break;
        }
        if let Some((seq, reason)) = &decoded.failure {
            stop(s, tenant, generation, *seq, reason).await?;
        }
        if let Some((seq, order)) = decoded.erasure {
            crate::erase::carry_out(s, tenant, generation, seq, &order).await?;
            // Profiles kept in memory may hold the erased person: none of the tenant's
            // are trusted any more.
            cache = None;
            if let Some(caches) = s.caches {
                caches.forget_tenant(tenant);
            }
            turn.events += 1;
            turn.batches += 1;
            continue;
        }
        let started = std::time::Instant::now();
        let span = tracing::info_span!(
            "projector.batch",
            tenant_id = %tenant,
            generation = generation.generation,
            events = tracing::field::Empty,
        );
        let applied = apply_batch(
            s,
            tenant,
            generation,
            decoded,
            &mut applied_so_far,
            cache.as_mut(),
        )
        .instrument(span.clone())
        .await?;
        span.record("events", applied);
        metrics::PROJECTOR_BATCH_EVENTS.observe("events", applied as f64);
        metrics::PROJECTOR_BATCH_SECONDS.observe_duration("events", started.elapsed());
        turn.events += applied;
        turn.batches += 1;
    }
    if let (Some(caches), Some(cache)) = (s.caches, cache) {
        caches.put_back(tenant, generation.generation, cache);
    }
    Ok(turn)
}

/// Stops a task when its handle goes, so an early return leaves no reader behind.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A rebuilt generation that has reached the head of the log replaces the active one.
async fn switch_if_caught_up(
    s: &Settings<'_>,
    tenant: TenantId,
    generations: &[GenerationState],
    head: i64,
) -> Result<bool, ProjectionError> {
    let active = generations.iter().find(|g| g.status == Status::Active);
    let building = generations.iter().find(|g| g.status == Status::Building);
    let (Some(active), Some(building)) = (active, building) else {
        return Ok(false);
    };
    if building.last_seq < head || building.failure.is_some() {
        return Ok(false);
    }
    let txn = begin_write(s.db).await?;
    if !store::hold_lease(&txn, tenant, s.holder, s.lease_ttl).await? {
        return Err(ProjectionError::LeaseLost);
    }
    store::switch_over(&txn, tenant, active.generation, building.generation).await?;
    store::backfill_again_since(&txn, tenant, building.started_at).await?;
    txn.commit().await?;
    // The replaced generation's rows go in the background (`purge`).
    tracing::info!(tenant_id = %tenant, generation = building.generation, "rebuilt profiles took over");
    Ok(true)
}

/// Applies one opened batch to a generation and commits it with its checkpoint; returns
/// how many log events it covered.
async fn apply_batch(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    decoded: Decoded,
    applied_so_far: &mut i64,
    mut cache: Option<&mut GenerationCache>,
) -> Result<u64, ProjectionError> {
    let mut clock = PhaseClock::start();
    let observations = &decoded.observations;
    let mut values: Vec<String> = observations
        .iter()
        .flat_map(|o| {
            let o = &o.observation;
            o.identities
                .iter()
                .map(|i| i.value.clone())
                .chain(o.previous_id.clone())
        })
        .collect();
    values.sort();
    values.dedup();
    let (mut loaded, unknown) = match cache.as_deref_mut() {
        Some(cache) => cache.lookup(values.clone()),
        None => (Vec::new(), values.clone()),
    };
    let cached = loaded.len();
    if !unknown.is_empty() {
        let known: HashSet<ProfileId> = loaded.iter().map(|p| p.id).collect();
        let from_db = store::load_for(s.db, tenant, generation.generation, unknown).await?;
        loaded.extend(from_db.into_iter().filter(|p| !known.contains(&p.id)));
    }
    let load = clock.lap();
    let loaded_count = loaded.len();
    let plan = Plan::load(s.db, tenant, generation).await?;
    let mut set = WorkingSet::new(tenant, generation.rules.clone(), loaded);
    if let Some(plan) = &plan {
        set = set.with_aggregations(plan.folded.clone());
    }
    for o in observations {
        set.apply(&o.observation);
    }
    let merges =
        merge_records(s.keyring, tenant, generation.generation, &set, observations).await?;
    let audience = match &plan {
        Some(plan) => {
            let keys = observations
                .iter()
                .map(|o| (o.observation.seq, o.key_id))
                .collect();
            Some(audience::of_batch(s, tenant, generation, plan, &set, &keys).await?)
        }
        None => None,
    };
    let apply = clock.lap();

    let txn = begin_write(s.db).await?;
    let lock = clock.lap();
    if !store::hold_lease(&txn, tenant, s.holder, s.lease_ttl).await? {
        return Err(ProjectionError::LeaseLost);
    }
    store::write_batch(&txn, tenant, generation.generation, &set).await?;
    if !merges.is_empty() {
        cdp_log::append(&txn, tenant, merges).await?;
    }
    if let (Some(plan), Some((write, records))) = (&plan, audience) {
        store::write_audience(&txn, tenant, generation.generation, &write, plan.record).await?;
        if !records.is_empty() {
            cdp_log::append(&txn, tenant, records).await?;
        }
    }
    let applied = observations.len() as i64 - set.unattributed as i64;
    store::advance(
        &txn,
        tenant,
        generation.generation,
        decoded.last,
        applied,
        decoded.shredded,
        set.unattributed as i64,
    )
    .await?;
    let write = clock.lap();
    txn.commit().await?;
    let write_back = clock.lap();
    if let Some(cache) = cache {
        cache.committed(set, &values, decoded.last);
    }
    tracing::debug!(
        tenant_id = %tenant,
        events = decoded.events,
        profiles = loaded_count,
        cached,
        load, apply, lock, write, commit = write_back, cached_back = clock.lap(),
        "projected a batch (milliseconds per phase)"
    );
    // Each time a generation doubles (from a thousand events on), the planner's statistics
    // are refreshed: a young table, or a generation the statistics have never seen, is
    // otherwise taken to hold almost nothing, and lookups stop using their keys.
    let before = *applied_so_far;
    let after = before + applied;
    *applied_so_far = after;
    if after >= 1024 && (before < 1024 || before.ilog2() < after.ilog2()) {
        store::refresh_statistics(s.db).await?;
    }
    Ok(decoded.events)
}

/// Every merge goes into the log as its own event, sealed under the key of the event that
/// caused it (so erasing that person makes the record unreadable too). Its message id
/// names the two profiles, so a rebuild that decides the same merge records it once.
async fn merge_records(
    keyring: &Keyring,
    tenant: TenantId,
    generation: i64,
    set: &WorkingSet,
    observations: &[Observed],
) -> Result<Vec<NewEvent>, ProjectionError> {
    let mut records = Vec::new();
    for merge in &set.merges {
        let Some(trigger) = observations
            .iter()
            .find(|o| o.observation.seq == merge.trigger_seq)
        else {
            continue;
        };
        let body = json!({
            "type": "identity.merged",
            "winner": merge.winner,
            "loser": merge.loser,
            "triggerSeq": merge.trigger_seq,
            "generation": generation,
            "identities": merge.identities.iter().map(|i| json!({"type": i.kind, "value": i.value})).collect::<Vec<_>>(),
        });
        let message_id = format!(
            "{}merge:{}:{}",
            cdp_domain::SYSTEM_MESSAGE_ID_PREFIX,
            merge.winner,
            merge.loser
        );
        records.extend(
            seal_system_event(
                keyring,
                tenant,
                trigger.key_id,
                "identity.merged",
                message_id,
                trigger.occurred_at,
                &body,
            )
            .await?,
        );
    }
    Ok(records)
}

/// A record the system appends to the log about a person, sealed under one of that
/// person's data keys; `None` when the key is destroyed (nothing of them is recorded).
pub(crate) async fn seal_system_event(
    keyring: &Keyring,
    tenant: TenantId,
    key_id: DataKeyId,
    event_type: &str,
    message_id: String,
    occurred_at: DateTime<Utc>,
    body: &serde_json::Value,
) -> Result<Option<NewEvent>, ProjectionError> {
    let Some(key) = keyring
        .key_by_id(tenant, key_id)
        .await
        .map_err(ProjectionError::Keyring)?
    else {
        return Ok(None);
    };
    let event_id = EventId::new();
    let payload = key
        .seal(
            event_id,
            &serde_json::to_vec(body).expect("JSON serializes"),
        )
        .map_err(ProjectionError::Keyring)?;
    Ok(Some(NewEvent {
        event_id,
        message_id,
        event_type: event_type.to_owned(),
        source_id: None,
        received_at: Utc::now(),
        occurred_at,
        key_id: key.key_id(),
        payload,
    }))
}

async fn stop(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    seq: i64,
    reason: &str,
) -> Result<u64, ProjectionError> {
    store::record_failure(s.db, tenant, generation.generation, seq, reason).await?;
    tracing::error!(tenant_id = %tenant, seq, reason, "projection stopped at an event it cannot apply");
    Err(ProjectionError::Event {
        seq,
        reason: reason.to_owned(),
    })
}

/// Milliseconds spent in each phase of a batch, for the debug log.
struct PhaseClock(std::time::Instant);

impl PhaseClock {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// Milliseconds since the last lap.
    fn lap(&mut self) -> f64 {
        let now = std::time::Instant::now();
        let ms = (now - self.0).as_secs_f64() * 1000.0;
        self.0 = now;
        (ms * 10.0).round() / 10.0
    }
}
