//! The one way events enter the log: seal each under its subject's key, append through the
//! group committer, and answer only once committed.

use cdp_domain::{EventId, KeySubject, SourceId, TenantId};
use cdp_keyring::KeyringError;
use cdp_log::{Appended, CommitError, NewEvent};
use cdp_tracking::TrackedEvent;

use crate::{IngestError, IngestState};

/// What became of a request's events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// Newly appended to the log.
    pub stored: usize,
    /// Already in the log (the same message id), so not stored again.
    pub duplicates: usize,
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
    if events.is_empty() {
        return Ok(outcome);
    }

    // Queue space first: a request that will be refused for load does no work.
    let reservation = state
        .committer
        .reserve(events.len())
        .map_err(commit_error)?;
    let subjects: Vec<KeySubject> = events
        .iter()
        .map(|e| KeySubject::Identity(e.subject()))
        .collect();
    let keys = state
        .keyring
        .subject_keys(tenant, &subjects)
        .await
        .map_err(keyring_error)?;
    let mut rows = Vec::with_capacity(events.len());
    for (event, key) in events.iter().zip(&keys) {
        let event_id = EventId::new();
        let payload = key
            .seal(event_id, &event.to_json())
            .map_err(keyring_error)?;
        rows.push(NewEvent {
            event_id,
            message_id: event.message_id.clone(),
            event_type: event.event_type.as_str().to_owned(),
            source_id: source,
            received_at: event.received_at,
            occurred_at: event.timestamp,
            key_id: key.key_id(),
            payload,
        });
    }

    let appended = reservation
        .append(tenant, rows)
        .await
        .map_err(commit_error)?;
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
    Ok(outcome)
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
