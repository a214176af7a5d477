//! Reading a batch of the log and opening it: what each event says about a person.
//!
//! This part needs nothing the previous batch wrote, so it runs ahead of the batch being
//! applied, on the other core (see `batch::catch_up`).

use cdp_domain::{DataKeyId, Seq, TenantId};
use cdp_keyring::{Keyring, KeyringError, Opened};
use cdp_privacy::{ERASURE_EVENT_TYPE, RequestEvent};
use cdp_profiles::{IdentityRules, Observation, observe};
use cdp_storage::DatabaseConnection;
use chrono::{DateTime, Utc};

use crate::ProjectionError;

/// Events opened between two yields to the runtime: opening is CPU work, and the
/// runtime's threads serve requests too.
const YIELD_EVERY: usize = 256;

/// An observation, with what a merge record needs of the event behind it.
pub(crate) struct Observed {
    pub observation: Observation,
    pub key_id: DataKeyId,
    pub occurred_at: DateTime<Utc>,
}

/// One batch of the log, opened.
pub(crate) struct Decoded {
    /// The position of the batch's last event.
    pub last: i64,
    /// Events the batch covers.
    pub events: u64,
    pub observations: Vec<Observed>,
    /// Events whose key is destroyed.
    pub shredded: i64,
    /// An event that cannot be applied, and why: the batch stops there.
    pub failure: Option<(i64, String)>,
    /// An erasure order, at this position. It comes alone in its batch: what the batch
    /// before it holds is applied first, and nothing after it is opened until it is
    /// carried out (the keys it destroys seal what follows).
    pub erasure: Option<(i64, RequestEvent)>,
}

/// Reads up to `size` events after `after` and opens them. `None` when there are none.
pub(crate) async fn decode_batch(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    rules: &IdentityRules,
    after: i64,
    size: u64,
) -> Result<Option<Decoded>, ProjectionError> {
    let events = cdp_log::read_after(db, tenant, Seq(after), size).await?;
    let Some(last) = events.last().map(|e| e.seq.0) else {
        return Ok(None);
    };
    let key_ids: Vec<_> = events.iter().map(|e| e.key_id).collect();
    match keyring.preload(tenant, &key_ids).await {
        Ok(()) => {}
        Err(KeyringError::Db(e)) => return Err(ProjectionError::Db(e)),
        // A key that cannot be unwrapped: opening its event below names the event.
        Err(_) => {}
    }
    let mut decoded = Decoded {
        last,
        events: events.len() as u64,
        observations: Vec::with_capacity(events.len()),
        shredded: 0,
        failure: None,
        erasure: None,
    };
    for (i, event) in events.iter().enumerate() {
        if i % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
        let opened = match keyring
            .open(tenant, event.event_id, event.key_id, &event.payload)
            .await
        {
            Ok(opened) => opened,
            // A deleted workspace: every key is gone, so every event reads as shredded.
            Err(KeyringError::TenantShredded(_)) => Opened::Shredded,
            Err(KeyringError::Db(e)) => return Err(ProjectionError::Db(e)),
            Err(e) => {
                decoded.failure = Some((event.seq.0, e.to_string()));
                return Ok(Some(decoded));
            }
        };
        let body = match opened {
            Opened::Shredded => {
                decoded.shredded += 1;
                continue;
            }
            Opened::Plain(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(body) => body,
                Err(e) => {
                    decoded.failure = Some((event.seq.0, format!("the payload is not JSON: {e}")));
                    return Ok(Some(decoded));
                }
            },
        };
        if event.source_id.is_none()
            && event.event_type == ERASURE_EVENT_TYPE
            && let Some(order) = RequestEvent::from_event(&body)
        {
            if i == 0 {
                decoded.erasure = Some((event.seq.0, order));
            } else {
                decoded.last = events[i - 1].seq.0;
                decoded.events = i as u64;
            }
            return Ok(Some(decoded));
        }
        let source = event.source_id.map(|id| id.to_string());
        if let Some(observation) = observe(event.seq.0, source, event.occurred_at, &body, rules) {
            decoded.observations.push(Observed {
                observation,
                key_id: event.key_id,
                occurred_at: event.occurred_at,
            });
        }
    }
    Ok(Some(decoded))
}
