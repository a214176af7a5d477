//! Sending: one task per destination with due deliveries, each taking a round of them at
//! a time (at most one per profile, so a profile's deliveries keep their order), posting
//! them concurrently and recording every outcome with the destination's breaker.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cdp_destinations::store::{self, Delivery, DeliveryUpdate, Destination};
use cdp_destinations::{
    BreakerState, DeliveryStatus, Phase, SECRET_PURPOSE, SigningSecret, sign, webhook_id,
};
use cdp_domain::{DestinationId, Seq, TenantId};
use cdp_keyring::Keyring;
use cdp_log::StoredEvent;
use cdp_storage::{DatabaseConnection, begin_write};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use parking_lot::Mutex;
use rand::Rng;
use tracing::Instrument;

use crate::client::Answer;
use crate::{DeliveryCounters, DispatchError, Shared, body};

/// Deliveries taken per round: their claim, and their outcomes, commit together.
const ROUND: usize = 256;

/// Why the dispatcher turns a destination off by itself.
const GONE: &str = "the receiver answered 410 Gone; turn the destination on again to resume";

type Running = Arc<Mutex<HashSet<(TenantId, DestinationId)>>>;

pub(crate) async fn run(shared: Arc<Shared>) {
    let running: Running = Arc::default();
    loop {
        match store::due_destinations(&shared.db, Utc::now(), 1_000).await {
            Ok(due) => {
                for key in due {
                    let mut set = running.lock();
                    if set.len() >= shared.options.destinations_at_once {
                        break;
                    }
                    if set.insert(key) {
                        tokio::spawn(drain(shared.clone(), running.clone(), key));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "dispatcher: could not look for due deliveries"),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.options.poll) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

async fn drain(shared: Arc<Shared>, running: Running, key: (TenantId, DestinationId)) {
    let (tenant, id) = key;
    if let Err(e) = drain_destination(&shared, tenant, id).await {
        tracing::warn!(%tenant, destination = %id, error = %e, "dispatcher: sending failed; retrying later");
    }
    running.lock().remove(&key);
}

/// Sends rounds of due deliveries until none is due, the breaker opens or the
/// destination is turned off.
async fn drain_destination(
    shared: &Shared,
    tenant: TenantId,
    id: DestinationId,
) -> Result<(), DispatchError> {
    loop {
        let Some(destination) = store::destination(&shared.db, tenant, id).await? else {
            return Ok(());
        };
        if !destination.enabled {
            return Ok(());
        }
        let now = Utc::now();
        let limit = match destination.breaker.phase(&shared.options.breaker, now) {
            Phase::Open => return Ok(()),
            Phase::HalfOpen => 1,
            Phase::Closed => ROUND,
        };
        let secrets = signing_secrets(&shared.db, &shared.keyring, &destination, now).await?;
        let lease = now
            + TimeDelta::from_std(shared.options.timeout + Duration::from_secs(30))
                .unwrap_or(TimeDelta::minutes(1));
        let claimed = {
            let txn = begin_write(&shared.db).await?;
            let claimed = store::claim(&txn, tenant, id, now, limit, lease).await?;
            txn.commit().await?;
            claimed
        };
        if claimed.is_empty() {
            return Ok(());
        }
        let events = round_events(shared, tenant, &claimed).await?;
        // Collected first: a stream holding the closure trips the compiler's proof that
        // the spawned task is Send.
        let attempts: Vec<_> = claimed
            .iter()
            .map(|d| {
                attempt(
                    shared,
                    tenant,
                    &destination,
                    &secrets,
                    d,
                    events.get(&d.seq),
                )
            })
            .collect();
        let span = tracing::info_span!(
            "dispatch.round",
            tenant_id = %tenant,
            destination_id = %id,
            deliveries = claimed.len(),
        );
        let answers: Vec<Outcome> = futures::stream::iter(attempts)
            .buffered(shared.options.per_destination)
            .collect()
            .instrument(span)
            .await;
        let mut breaker = destination.breaker;
        let mut disable = None;
        let mut updates = Vec::with_capacity(claimed.len());
        for (delivery, outcome) in claimed.iter().zip(answers) {
            let update = settle(shared, delivery, outcome, &mut breaker, &mut disable);
            updates.push(update);
        }
        let txn = begin_write(&shared.db).await?;
        store::record_outcomes(&txn, tenant, id, &updates).await?;
        store::record_breaker(&txn, tenant, id, breaker, disable).await?;
        txn.commit().await?;
    }
}

/// The events of a round's deliveries, read from the log in one query with their keys.
async fn round_events(
    shared: &Shared,
    tenant: TenantId,
    claimed: &[Delivery],
) -> Result<HashMap<i64, StoredEvent>, DispatchError> {
    let seqs: Vec<Seq> = claimed.iter().map(|d| Seq(d.seq)).collect();
    let events = cdp_log::read_at(&shared.db, tenant, &seqs).await?;
    let keys: Vec<_> = events.iter().map(|e| e.key_id).collect();
    // A key that cannot be unwrapped is left for opening its event to report.
    if let Err(cdp_keyring::KeyringError::Db(e)) = shared.keyring.preload(tenant, &keys).await {
        return Err(DispatchError::Db(e));
    }
    Ok(events.into_iter().map(|e| (e.seq.0, e)).collect())
}

/// The destination's live secrets, opened. None left (they all expired) is a
/// misconfiguration the delivery log shows as failures rather than unsigned sends.
pub(crate) async fn signing_secrets(
    db: &DatabaseConnection,
    keyring: &Keyring,
    destination: &Destination,
    now: DateTime<Utc>,
) -> Result<Vec<SigningSecret>, DispatchError> {
    let sealed = store::live_secrets(db, destination.tenant, destination.id, now).await?;
    let mut secrets = Vec::with_capacity(sealed.len());
    for s in sealed {
        let text = keyring.open_platform_secret(
            SECRET_PURPOSE,
            &s.id.to_string(),
            &s.master_key_id,
            &s.sealed,
        )?;
        match std::str::from_utf8(&text).ok().map(SigningSecret::parse) {
            Some(Ok(secret)) => secrets.push(secret),
            _ => {
                tracing::warn!(destination = %destination.id, "dispatcher: a stored signing secret is unreadable")
            }
        }
    }
    Ok(secrets)
}

/// What became of one attempt.
enum Outcome {
    Answered {
        answer: Answer,
        took: Duration,
    },
    /// The event can no longer be read: its person was erased.
    Erased,
    /// The delivery could not be prepared (storage unavailable): tried again later,
    /// without counting against the receiver.
    NotPrepared(String),
}

async fn attempt(
    shared: &Shared,
    tenant: TenantId,
    destination: &Destination,
    secrets: &[SigningSecret],
    delivery: &Delivery,
    event: Option<&StoredEvent>,
) -> Outcome {
    let body = match body::build(
        &shared.db,
        &shared.keyring,
        tenant,
        destination,
        delivery,
        event,
    )
    .await
    {
        Ok(Some(body)) => body,
        Ok(None) => return Outcome::Erased,
        Err(e) => return Outcome::NotPrepared(e.to_string()),
    };
    if secrets.is_empty() {
        return Outcome::NotPrepared("the destination has no signing secret".into());
    }
    let headers = sign(
        secrets,
        &webhook_id(destination.id, delivery.seq),
        Utc::now().timestamp(),
        &body,
    );
    let (answer, took) = shared.client.post(&destination.url, &headers, body).await;
    Outcome::Answered { answer, took }
}

/// The delivery's new state after an attempt, and the breaker's.
fn settle(
    shared: &Shared,
    delivery: &Delivery,
    outcome: Outcome,
    breaker: &mut BreakerState,
    disable: &mut Option<&'static str>,
) -> DeliveryUpdate {
    let now = Utc::now();
    let counters = &shared.counters;
    let mut update = DeliveryUpdate {
        seq: delivery.seq,
        status: DeliveryStatus::Pending,
        attempts: delivery.attempts,
        next_attempt_at: delivery.next_attempt_at,
        first_attempt_at: delivery.first_attempt_at,
        last_attempt_at: delivery.last_attempt_at,
        last_status: delivery.last_status,
        last_error: delivery.last_error.clone(),
        latency_ms: delivery.latency_ms,
        done_at: None,
    };
    let (answer, took) = match outcome {
        Outcome::Erased => {
            DeliveryCounters::add(&counters.cancelled, 1);
            update.status = DeliveryStatus::Cancelled;
            update.last_error = Some("the person was erased".into());
            update.done_at = Some(now);
            return update;
        }
        Outcome::NotPrepared(reason) => {
            update.next_attempt_at = now + TimeDelta::seconds(5);
            update.last_error = Some(reason);
            return update;
        }
        Outcome::Answered { answer, took } => (answer, took),
    };
    update.attempts = delivery.attempts.saturating_add(1);
    update.last_attempt_at = Some(now);
    let first = *update.first_attempt_at.get_or_insert(now);
    update.latency_ms = Some(took.as_millis().min(u32::MAX as u128) as u32);
    let (code, retry_after, error) = match answer {
        Answer::Status { code, retry_after } => {
            let error =
                (!(200..300).contains(&code)).then(|| format!("the receiver answered {code}"));
            (Some(code), retry_after, error)
        }
        Answer::Failed(error) => (None, None, Some(error)),
    };
    update.last_status = code;
    match (code, error) {
        (_, None) => {
            DeliveryCounters::add(&counters.delivered, 1);
            *breaker = breaker.after_success();
            update.status = DeliveryStatus::Delivered;
            update.last_error = None;
            update.done_at = Some(now);
        }
        (Some(410), Some(error)) => {
            DeliveryCounters::add(&counters.dead, 1);
            *disable = Some(GONE);
            update.status = DeliveryStatus::Dead;
            update.last_error = Some(error);
            update.done_at = Some(now);
        }
        (_, Some(error)) => {
            DeliveryCounters::add(&counters.failed, 1);
            *breaker = breaker.after_failure(&shared.options.breaker, now);
            let jitter = rand::rng().random::<f64>();
            match shared.options.retry.next_attempt(
                update.attempts,
                first,
                now,
                jitter,
                retry_after,
            ) {
                Some(next) => update.next_attempt_at = next,
                None => {
                    DeliveryCounters::add(&counters.dead, 1);
                    update.status = DeliveryStatus::Dead;
                    update.done_at = Some(now);
                }
            }
            update.last_error = Some(error);
        }
    }
    update
}
