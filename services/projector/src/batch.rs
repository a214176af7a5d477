//! Projecting a tenant: batch by batch, each batch in one transaction with its checkpoint.

use cdp_domain::{EventId, Seq, TenantId};
use cdp_keyring::{Keyring, Opened};
use cdp_log::{NewEvent, StoredEvent};
use cdp_profile_store::{self as store, GenerationState, Status};
use cdp_profiles::{Observation, WorkingSet, observe};
use cdp_storage::{DatabaseConnection, begin_write};
use chrono::{TimeDelta, Utc};
use serde_json::json;

use crate::ProjectionError;

/// How many times the configured batch size a generation far behind the log uses.
const CATCH_UP_FACTOR: i64 = 4;

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
}

/// Projects the tenant until every generation has caught up with its log. The caller holds
/// the tenant's lease (every commit renews it, and fails if it was lost).
pub async fn project_tenant(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    holder: &str,
    batch_size: u64,
) -> Result<Progress, ProjectionError> {
    let settings = Settings {
        db,
        keyring,
        holder,
        batch_size,
        lease_ttl: TimeDelta::seconds(30),
        retry_after: TimeDelta::zero(),
    };
    run(&settings, tenant).await
}

pub(crate) async fn run(s: &Settings<'_>, tenant: TenantId) -> Result<Progress, ProjectionError> {
    let mut progress = Progress::default();
    store::ensure_active(s.db, tenant).await?;
    for generation in store::retired_generations(s.db, tenant).await? {
        store::drop_generation(s.db, tenant, generation).await?;
    }
    loop {
        let head = cdp_log::head(s.db, tenant).await?.0;
        let generations = store::generations(s.db, tenant).await?;
        let mut moved = false;
        for generation in &generations {
            let waiting = generation
                .failed_at
                .is_some_and(|at| Utc::now() - at < s.retry_after);
            if generation.last_seq < head && !waiting {
                // Far behind (a backlog, a rebuild): bigger batches, which cost less per
                // event; close to the head: the configured size, for short transactions.
                let size =
                    if head - generation.last_seq > CATCH_UP_FACTOR * 10 * s.batch_size as i64 {
                        s.batch_size * CATCH_UP_FACTOR as u64
                    } else {
                        s.batch_size
                    };
                let events = match project_batch(s, tenant, generation, size).await {
                    // A rebuild was restarted under us: look at the generations again.
                    Err(ProjectionError::Store(store::StoreError::Superseded)) => 0,
                    other => other?,
                };
                progress.events += events;
                progress.batches += 1;
                moved = true;
            }
        }
        if switch_if_caught_up(s, tenant, &generations, head).await? {
            progress.switched = true;
            continue;
        }
        if !moved {
            return Ok(progress);
        }
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
    txn.commit().await?;
    tracing::info!(tenant_id = %tenant, generation = building.generation, "rebuilt profiles took over");
    store::drop_generation(s.db, tenant, active.generation).await?;
    Ok(true)
}

/// Projects the next batch of one generation; returns how many log events it covered.
async fn project_batch(
    s: &Settings<'_>,
    tenant: TenantId,
    generation: &GenerationState,
    size: u64,
) -> Result<u64, ProjectionError> {
    let events = cdp_log::read_after(s.db, tenant, Seq(generation.last_seq), size).await?;
    let Some(last) = events.last().map(|e| e.seq.0) else {
        return Ok(0);
    };
    let key_ids: Vec<_> = events.iter().map(|e| e.key_id).collect();
    match s.keyring.preload(tenant, &key_ids).await {
        Ok(()) => {}
        Err(cdp_keyring::KeyringError::Db(e)) => return Err(ProjectionError::Db(e)),
        // A key that cannot be unwrapped: opening its event below names the event.
        Err(_) => {}
    }
    let mut observations: Vec<(Observation, &StoredEvent)> = Vec::with_capacity(events.len());
    let mut shredded = 0;
    for event in &events {
        let opened = match s
            .keyring
            .open(tenant, event.event_id, event.key_id, &event.payload)
            .await
        {
            Ok(opened) => opened,
            // A deleted workspace: every key is gone, so every event reads as shredded.
            Err(cdp_keyring::KeyringError::TenantShredded(_)) => Opened::Shredded,
            Err(cdp_keyring::KeyringError::Db(e)) => return Err(ProjectionError::Db(e)),
            Err(e) => return stop(s, tenant, generation, event.seq.0, &e.to_string()).await,
        };
        let body = match opened {
            Opened::Shredded => {
                shredded += 1;
                continue;
            }
            Opened::Plain(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(body) => body,
                Err(e) => {
                    return stop(
                        s,
                        tenant,
                        generation,
                        event.seq.0,
                        &format!("the payload is not JSON: {e}"),
                    )
                    .await;
                }
            },
        };
        let source = event.source_id.map(|id| id.to_string());
        if let Some(o) = observe(
            event.seq.0,
            source,
            event.occurred_at,
            &body,
            &generation.rules,
        ) {
            observations.push((o, event));
        }
    }

    let mut values: Vec<String> = observations
        .iter()
        .flat_map(|(o, _)| {
            o.identities
                .iter()
                .map(|i| i.value.clone())
                .chain(o.previous_id.clone())
        })
        .collect();
    values.sort();
    values.dedup();
    let loaded = store::load_for(s.db, tenant, generation.generation, values).await?;
    let mut set = WorkingSet::new(tenant, generation.rules.clone(), loaded);
    for (o, _) in &observations {
        set.apply(o);
    }
    let merges = merge_records(
        s.keyring,
        tenant,
        generation.generation,
        &set,
        &observations,
    )
    .await?;

    let txn = begin_write(s.db).await?;
    if !store::hold_lease(&txn, tenant, s.holder, s.lease_ttl).await? {
        return Err(ProjectionError::LeaseLost);
    }
    store::write_batch(&txn, tenant, generation.generation, &set).await?;
    if !merges.is_empty() {
        cdp_log::append(&txn, tenant, merges).await?;
    }
    let applied = observations.len() as i64 - set.unattributed as i64;
    store::advance(
        &txn,
        tenant,
        generation.generation,
        last,
        applied,
        shredded,
        set.unattributed as i64,
    )
    .await?;
    txn.commit().await?;
    // Each time a generation doubles (from a thousand events on), the planner's statistics
    // are refreshed: a young table, or a generation the statistics have never seen, is
    // otherwise taken to hold almost nothing, and lookups stop using their keys.
    let before = generation.events_applied;
    let after = before + applied;
    if after >= 1024 && (before < 1024 || before.ilog2() < after.ilog2()) {
        store::refresh_statistics(s.db).await?;
    }
    Ok(events.len() as u64)
}

/// Every merge goes into the log as its own event, sealed under the key of the event that
/// caused it (so erasing that person makes the record unreadable too). Its message id
/// names the two profiles, so a rebuild that decides the same merge records it once.
async fn merge_records(
    keyring: &Keyring,
    tenant: TenantId,
    generation: i64,
    set: &WorkingSet,
    observations: &[(Observation, &StoredEvent)],
) -> Result<Vec<NewEvent>, ProjectionError> {
    let mut records = Vec::new();
    for merge in &set.merges {
        let Some((_, trigger)) = observations
            .iter()
            .find(|(o, _)| o.seq == merge.trigger_seq)
        else {
            continue;
        };
        let Some(key) = keyring
            .key_by_id(tenant, trigger.key_id)
            .await
            .map_err(ProjectionError::Keyring)?
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
        let event_id = EventId::new();
        let payload = key
            .seal(
                event_id,
                &serde_json::to_vec(&body).expect("JSON serializes"),
            )
            .map_err(ProjectionError::Keyring)?;
        records.push(NewEvent {
            event_id,
            message_id: format!(
                "{}merge:{}:{}",
                cdp_domain::SYSTEM_MESSAGE_ID_PREFIX,
                merge.winner,
                merge.loser
            ),
            event_type: "identity.merged".to_owned(),
            source_id: None,
            received_at: Utc::now(),
            occurred_at: trigger.occurred_at,
            key_id: key.key_id(),
            payload,
        });
    }
    Ok(records)
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
