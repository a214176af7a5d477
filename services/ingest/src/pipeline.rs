//! The one way events enter the log: seal each under its subject's key, append through the
//! group committer, and answer only once committed.

use cdp_domain::{EventId, Identity, KeySubject, SourceId, TenantId};
use cdp_keyring::{KeyringError, SubjectKey};
use cdp_log::{Appended, CommitError, LogError, NewEvent};
use cdp_telemetry::metrics;
use cdp_tracking::TrackedEvent;
use tracing::Instrument;

use crate::{IngestError, IngestState};

/// What became of a request's events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Newly appended to the log.
    pub stored: usize,
    /// Already in the log (the same message id), so not stored again.
    pub duplicates: usize,
    /// About a suppressed person (erased, or asked not to be tracked): dropped, counted.
    pub suppressed: usize,
}

/// Stores valid events of one tenant (from one source, when known). All of them are
/// committed, or none.
pub async fn store(
    state: &IngestState,
    tenant: TenantId,
    source: Option<SourceId>,
    events: Vec<TrackedEvent>,
) -> Result<Stored, IngestError> {
    let mut outcome = Stored::default();
    let events = match &state.dedupe {
        Some(dedupe) => {
            let ids: Vec<&str> = events.iter().map(|e| e.message_id.as_str()).collect();
            let seen = dedupe.seen(tenant, &ids).await;
            let before = events.len();
            let fresh: Vec<TrackedEvent> = events
                .into_iter()
                .zip(seen)
                .filter_map(|(event, seen)| (!seen).then_some(event))
                .collect();
            outcome.duplicates += before - fresh.len();
            fresh
        }
        None => events,
    };
    let events = drop_suppressed(state, tenant, events, &mut outcome).await?;
    if events.is_empty() {
        return Ok(outcome);
    }

    // Queue space first: a request that will be refused for load does no work.
    let mut reservation = state
        .committer
        .reserve(events.len())
        .map_err(commit_error)?;
    let subjects: Vec<KeySubject> = events
        .iter()
        .map(|e| KeySubject::Identity(e.subject()))
        .collect();
    let mut raced = false;
    let appended = loop {
        let (keys, new_keys) = state
            .keyring
            .keys_for_append(tenant, &subjects)
            .await
            .map_err(keyring_error)?;
        let rows = seal(&events, &keys, source)?;
        let outcome = reservation
            .append_with_keys(tenant, rows, new_keys.clone())
            .instrument(tracing::info_span!("log.append", events = events.len()))
            .await;
        match outcome {
            Ok(appended) => {
                state.keyring.new_keys_stored(&new_keys);
                break appended;
            }
            Err(e) => {
                state.keyring.new_keys_refused(&new_keys);
                // Another process stored a key for one of these new subjects first: seal
                // again under that one, once.
                if is_key_race(&e) && !raced {
                    raced = true;
                    reservation = state
                        .committer
                        .reserve(events.len())
                        .map_err(commit_error)?;
                    continue;
                }
                return Err(commit_error(e));
            }
        }
    };
    for result in &appended {
        match result {
            Appended::New(_) => outcome.stored += 1,
            Appended::Duplicate(_) => outcome.duplicates += 1,
        }
    }
    if let Some(dedupe) = &state.dedupe {
        let ids: Vec<&str> = events.iter().map(|e| e.message_id.as_str()).collect();
        dedupe.remember(tenant, &ids).await;
    }
    metrics::INGEST_EVENTS.add(outcome.stored as u64);
    metrics::INGEST_DUPLICATES.add(outcome.duplicates as u64);
    Ok(outcome)
}

/// Leaves out the events that name a suppressed identity. A tenant with an empty list
/// (most) pays one cache lookup per request and no hashing.
async fn drop_suppressed(
    state: &IngestState,
    tenant: TenantId,
    events: Vec<TrackedEvent>,
    outcome: &mut Stored,
) -> Result<Vec<TrackedEvent>, IngestError> {
    let suppressed = state
        .suppressions
        .refs(&state.db, tenant)
        .await
        .map_err(IngestError::unavailable)?;
    if suppressed.is_empty() {
        return Ok(events);
    }
    let rules = cdp_profiles::IdentityRules::default();
    let named: Vec<Vec<Identity>> = events
        .iter()
        .map(|event| {
            cdp_profiles::identities_in(&event.body, &rules)
                .into_iter()
                .filter_map(|ident| Identity::parse(&ident.kind, ident.value).ok())
                .collect()
        })
        .collect();
    let all: Vec<Identity> = named.iter().flatten().cloned().collect();
    let hashes = state
        .keyring
        .suppression_refs(tenant, &all)
        .await
        .map_err(keyring_error)?;
    let mut hashes = hashes.into_iter();
    let before = events.len();
    let kept: Vec<TrackedEvent> = events
        .into_iter()
        .zip(&named)
        .filter_map(|(event, names)| {
            // Every one of the event's hashes is taken, hit or not: the next event's follow.
            let mine: Vec<String> = hashes.by_ref().take(names.len()).collect();
            let hit = mine.iter().any(|hash| suppressed.contains(hash));
            (!hit).then_some(event)
        })
        .collect();
    let dropped = before - kept.len();
    outcome.suppressed += dropped;
    state
        .suppressed
        .fetch_add(dropped as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(kept)
}

/// Every event sealed under its subject's key, as the log stores it.
fn seal(
    events: &[TrackedEvent],
    keys: &[SubjectKey],
    source: Option<SourceId>,
) -> Result<Vec<NewEvent>, IngestError> {
    events
        .iter()
        .zip(keys)
        .map(|(event, key)| {
            let event_id = EventId::new();
            let payload = key
                .seal(event_id, &event.to_json())
                .map_err(keyring_error)?;
            Ok(NewEvent {
                event_id,
                message_id: event.message_id.clone(),
                event_type: event.event_type.as_str().to_owned(),
                source_id: source,
                received_at: event.received_at,
                occurred_at: event.timestamp,
                key_id: key.key_id(),
                payload,
            })
        })
        .collect()
}

fn is_key_race(e: &CommitError) -> bool {
    matches!(e, CommitError::Failed(e) if matches!(**e, LogError::NewKeyTaken))
}

fn commit_error(e: CommitError) -> IngestError {
    match e {
        CommitError::Overloaded => IngestError::Overloaded,
        CommitError::Failed(_) | CommitError::Stopped => IngestError::unavailable(e),
        CommitError::Invalid(_) => IngestError::internal(e),
    }
}

fn keyring_error(e: KeyringError) -> IngestError {
    match e {
        KeyringError::Db(_) => IngestError::unavailable(e),
        KeyringError::TenantShredded(_) | KeyringError::UnknownTenant(_) => {
            IngestError::Unauthorized("this workspace no longer exists")
        }
        other => IngestError::internal(other),
    }
}
