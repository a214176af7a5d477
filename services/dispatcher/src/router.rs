//! Routing: which destinations receive each event of a tenant's log.
//!
//! Client events are routed once the projector has applied them, so the profile they
//! belong to, and its consent, are known; the audience changes the projector itself
//! records are routed as they appear. Nothing is queued for a profile without the
//! destination's purpose consent (counted as skipped instead). The deliveries of a
//! stretch of the log and the new position commit together, and only if the position
//! was still where this router found it, so two routers never queue the same stretch.
//! The destinations are read after the stretch, so none created meanwhile misses it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use cdp_destinations::store::{self, Destination, NewDelivery};
use cdp_destinations::{DeliveryKind, EventFacts};
use cdp_domain::{DestinationId, ProfileId, Seq, TenantId};
use cdp_keyring::{Keyring, KeyringError, Opened};
use cdp_log::StoredEvent;
use cdp_profile_store::{self as profiles, Parts, Selection, Status};
use cdp_segments::{SEGMENT_ENTERED, SEGMENT_EXITED};
use cdp_storage::{DatabaseConnection, begin_write};
use chrono::Utc;

use crate::{DeliveryCounters, DispatchError, Shared};

pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        match store::tenants_with_destinations(&shared.db).await {
            Ok(tenants) => {
                for tenant in tenants {
                    route_until_caught_up(&shared, tenant).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "dispatcher: could not list tenants to route"),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.options.poll) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

async fn route_until_caught_up(shared: &Shared, tenant: TenantId) {
    loop {
        match route_tenant(
            &shared.db,
            &shared.keyring,
            tenant,
            shared.options.route_batch,
        )
        .await
        {
            Ok(routed) if routed.events > 0 => {
                DeliveryCounters::add(&shared.counters.routed, routed.deliveries);
                if routed.deliveries > 0 {
                    shared.wake.notify_waiters();
                }
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "dispatcher: routing failed; retrying later");
                return;
            }
        }
    }
}

/// What one routing step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Events of the log passed.
    pub events: u64,
    /// Deliveries queued.
    pub deliveries: u64,
}

/// One candidate: this event for this destination, about this profile.
struct Candidate {
    destination: usize,
    seq: i64,
    kind: DeliveryKind,
    profile: Option<ProfileId>,
    key_id: cdp_domain::DataKeyId,
}

/// Routes the next stretch of the tenant's log (up to `batch` events).
pub async fn route_tenant(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    batch: u64,
) -> Result<Routed, DispatchError> {
    // Turned-off destinations count for where routing starts but receive nothing: what
    // happens while a destination is off is not sent to it later.
    let destinations: Vec<Destination> = store::destinations(db, tenant).await?;
    let Some(earliest) = destinations.iter().map(|d| d.from_seq).min() else {
        return Ok(Routed::default());
    };
    let from = store::cursor(db, tenant).await?;
    let after = from.unwrap_or(earliest - 1).max(earliest - 1);
    let (generation, projected) = match profiles::generations(db, tenant)
        .await?
        .into_iter()
        .find(|g| g.status == Status::Active)
    {
        Some(g) => (Some(g.generation), g.last_seq),
        None => (None, 0),
    };
    let mut events = cdp_log::read_after(db, tenant, Seq(after), batch).await?;
    if let Some(end) = events
        .iter()
        .position(|e| e.source_id.is_some() && e.seq.0 > projected)
    {
        events.truncate(end);
    }
    let Some(last) = events.last().map(|e| e.seq.0) else {
        return Ok(Routed::default());
    };
    // Read again now that the stretch is known: a destination created since the first
    // read, and meant to receive part of it, committed before those events did (its
    // creation holds the log's head), so this read finds it.
    let destinations: Vec<Destination> = store::destinations(db, tenant).await?;
    let owners = match generation {
        Some(g) => profiles::event_owners(db, tenant, g, after, last).await?,
        None => BTreeMap::new(),
    };
    let candidates = candidates(keyring, tenant, &destinations, &events, &owners).await?;

    let now = Utc::now();
    let ids: Vec<ProfileId> = candidates
        .iter()
        .filter_map(|c| c.profile)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let consenting: HashMap<ProfileId, _> = match generation {
        Some(g) if !ids.is_empty() => {
            profiles::profile_parts(db, tenant, g, Selection::Ids(&ids), CONSENT_ONLY)
                .await?
                .into_iter()
                .map(|p| (p.id, p))
                .collect()
        }
        _ => HashMap::new(),
    };
    let mut queued = Vec::new();
    let mut skipped: BTreeMap<DestinationId, i64> = BTreeMap::new();
    for c in candidates {
        let destination = &destinations[c.destination];
        let consents = c
            .profile
            .and_then(|p| consenting.get(&p))
            .is_some_and(|p| p.consents_to(&destination.purpose, now));
        match (consents, c.profile) {
            (true, Some(profile)) => queued.push(NewDelivery {
                destination: destination.id,
                seq: c.seq,
                kind: c.kind,
                ordering_key: profile.to_string(),
                key_id: c.key_id,
            }),
            _ => *skipped.entry(destination.id).or_default() += 1,
        }
    }

    let txn = begin_write(db).await?;
    store::insert_deliveries(&txn, tenant, &queued, now).await?;
    for (destination, n) in &skipped {
        store::add_skipped(&txn, tenant, *destination, *n).await?;
    }
    if !store::advance_cursor(&txn, tenant, from, last).await? {
        // Another router took this stretch.
        txn.rollback().await?;
        return Ok(Routed::default());
    }
    txn.commit().await?;
    Ok(Routed {
        events: events.len() as u64,
        deliveries: queued.len() as u64,
    })
}

const CONSENT_ONLY: Parts = Parts {
    identities: false,
    traits: false,
    counts: false,
    groups: false,
    consent: true,
    aggregates: false,
};

/// Opens each event and lists the destinations whose choice it passes.
async fn candidates(
    keyring: &Keyring,
    tenant: TenantId,
    destinations: &[Destination],
    events: &[StoredEvent],
    owners: &BTreeMap<i64, ProfileId>,
) -> Result<Vec<Candidate>, DispatchError> {
    let key_ids: Vec<_> = events.iter().map(|e| e.key_id).collect();
    // A key that cannot be unwrapped is left for opening its event to report.
    if let Err(KeyringError::Db(e)) = keyring.preload(tenant, &key_ids).await {
        return Err(DispatchError::Db(e));
    }
    let mut found = Vec::new();
    for event in events {
        let kind = match (event.source_id, event.event_type.as_str()) {
            (Some(_), _) => DeliveryKind::Event,
            (None, SEGMENT_ENTERED) => DeliveryKind::SegmentEntered,
            (None, SEGMENT_EXITED) => DeliveryKind::SegmentExited,
            // The system's other records (merges, consent, requests) are not delivered.
            (None, _) => continue,
        };
        let wanted: Vec<usize> = destinations
            .iter()
            .enumerate()
            .filter(|(_, d)| d.enabled && event.seq.0 >= d.from_seq)
            .filter(|(_, d)| kind != DeliveryKind::Event || d.spec.receives.events)
            .filter(|(_, d)| kind == DeliveryKind::Event || !d.spec.receives.segments.is_empty())
            .map(|(i, _)| i)
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let body = match keyring
            .open(tenant, event.event_id, event.key_id, &event.payload)
            .await
        {
            Ok(Opened::Plain(bytes)) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(body) => body,
                Err(_) => continue,
            },
            // Erased, or the workspace is being deleted: nothing to deliver.
            Ok(Opened::Shredded) | Err(KeyringError::TenantShredded(_)) => continue,
            Err(KeyringError::Db(e)) => return Err(DispatchError::Db(e)),
            Err(e) => {
                tracing::warn!(%tenant, seq = event.seq.0, error = %e, "dispatcher: an event does not open; not routed");
                continue;
            }
        };
        let (profile, segment) = match kind {
            DeliveryKind::Event => (owners.get(&event.seq.0).copied(), None),
            _ => (
                body.get("profile")
                    .and_then(|p| p.as_str())
                    .and_then(|p| p.parse::<ProfileId>().ok()),
                body.get("segment").and_then(|s| s.as_str()),
            ),
        };
        let source = event.source_id.map(|s| s.to_string());
        let facts = EventFacts {
            source: source.as_deref(),
            event_type: &event.event_type,
            body: &body,
        };
        for i in wanted {
            let spec = &destinations[i].spec;
            let passes = match segment {
                None => spec.filter.matches(&facts),
                Some(segment) => spec.follows_segment(segment),
            };
            if passes {
                found.push(Candidate {
                    destination: i,
                    seq: event.seq.0,
                    kind,
                    profile,
                    key_id: event.key_id,
                });
            }
        }
    }
    Ok(found)
}
