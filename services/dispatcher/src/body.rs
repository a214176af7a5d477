//! The body of a delivery, built from the log when it is sent: the queue holds no
//! payload, so an erased person's pending deliveries have nothing left to send.

use cdp_destinations::store::{Delivery, Destination};
use cdp_destinations::{AudienceChange, DeliveryKind, Position, audience_body, event_body};
use cdp_domain::{ProfileId, SegmentId, TenantId};
use cdp_keyring::{Keyring, KeyringError, Opened};
use cdp_log::StoredEvent;
use cdp_storage::DatabaseConnection;
use serde_json::Value;

use crate::DispatchError;

/// The body to send, or `None` when the event can no longer be read (its key was
/// destroyed by an erasure, or the workspace is being deleted). `event` is the delivery's
/// event as read from the log with the rest of its round (`None`: not there).
pub(crate) async fn build(
    db: &DatabaseConnection,
    keyring: &Keyring,
    tenant: TenantId,
    destination: &Destination,
    delivery: &Delivery,
    event: Option<&StoredEvent>,
) -> Result<Option<Vec<u8>>, DispatchError> {
    let Some(event) = event else {
        return Ok(None);
    };
    let opened = match keyring
        .open(tenant, event.event_id, event.key_id, &event.payload)
        .await
    {
        Ok(opened) => opened,
        Err(KeyringError::TenantShredded(_)) => Opened::Shredded,
        Err(e) => return Err(e.into()),
    };
    let Opened::Plain(bytes) = opened else {
        return Ok(None);
    };
    let Ok(sent) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(None);
    };
    let at = Position {
        seq: event.seq.0,
        event_id: event.event_id,
        occurred_at: event.occurred_at,
        received_at: event.received_at,
    };
    let profile = delivery.ordering_key.parse::<ProfileId>().ok();
    let mut body = match delivery.kind {
        DeliveryKind::Event => event_body(
            &at,
            &event.event_type,
            event.source_id.map(|s| s.to_string()),
            profile,
            sent,
        ),
        kind => {
            let segment_id = sent
                .get("segment")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let segment_name = match segment_id.parse::<SegmentId>() {
                Ok(id) => cdp_profile_store::segment_by_id(db, tenant, id)
                    .await?
                    .map(|s| s.name),
                Err(_) => None,
            };
            let identities = match (
                profile,
                cdp_profile_store::active_generation(db, tenant).await?,
            ) {
                (Some(p), Some(g)) => cdp_profile_store::profile_identities(db, tenant, g, p)
                    .await?
                    .into_iter()
                    .map(|(kind, value, _, _)| (kind, value))
                    .collect(),
                _ => Vec::new(),
            };
            audience_body(
                &at,
                AudienceChange {
                    kind,
                    segment_id,
                    segment_name,
                    profile: delivery.ordering_key.clone(),
                    reason: sent
                        .get("reason")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    identities,
                },
            )
        }
    };
    destination.spec.mapping.apply(&mut body);
    Ok(Some(
        serde_json::to_vec(&body).expect("a JSON value serializes"),
    ))
}
