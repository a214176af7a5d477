//! A delivery: one event or audience change on its way to one destination, and the body
//! the receiver gets.

use cdp_domain::{DestinationId, EventId, ProfileId};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// What a delivery carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryKind {
    Event,
    SegmentEntered,
    SegmentExited,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Event => "event",
            DeliveryKind::SegmentEntered => "segment.entered",
            DeliveryKind::SegmentExited => "segment.exited",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryKind> {
        [
            DeliveryKind::Event,
            DeliveryKind::SegmentEntered,
            DeliveryKind::SegmentExited,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// Where a delivery is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt of the retry window failed, or the receiver answered 410: in the
    /// dead-letter list until replayed.
    Dead,
    /// Never to be sent: the person was erased, or no longer consents.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Dead,
        DeliveryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The `webhook-id` of a delivery: the same for every attempt and every replay of it, so a
/// receiver that keeps the ids it has seen processes each delivery once.
pub fn webhook_id(destination: DestinationId, seq: i64) -> String {
    format!("msg_{}_{seq}", destination.as_uuid().simple())
}

/// Where in the log a delivery's event is, and when it happened.
pub struct Position {
    pub seq: i64,
    pub event_id: EventId,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// The body of an event delivery: the event as the client sent it, under `event`.
pub fn event_body(
    at: &Position,
    event_type: &str,
    source: Option<String>,
    profile: Option<ProfileId>,
    event: Value,
) -> Value {
    json!({
        "type": DeliveryKind::Event.as_str(),
        "seq": at.seq,
        "event_id": at.event_id,
        "event_type": event_type,
        "source_id": source,
        "profile_id": profile,
        "occurred_at": at.occurred_at,
        "received_at": at.received_at,
        "event": event,
    })
}

/// The body of an audience delivery: who entered or left which segment, with the
/// person's identities so the receiver can act on it.
pub struct AudienceChange {
    pub kind: DeliveryKind,
    pub segment_id: String,
    pub segment_name: Option<String>,
    pub profile: String,
    pub reason: Option<String>,
    /// `(type, value)` pairs.
    pub identities: Vec<(String, String)>,
}

pub fn audience_body(at: &Position, change: AudienceChange) -> Value {
    let identities: Vec<Value> = change
        .identities
        .into_iter()
        .map(|(kind, value)| json!({"type": kind, "value": value}))
        .collect();
    json!({
        "type": change.kind.as_str(),
        "seq": at.seq,
        "event_id": at.event_id,
        "segment": {"id": change.segment_id, "name": change.segment_name},
        "profile_id": change.profile,
        "reason": change.reason,
        "identities": identities,
        "occurred_at": at.occurred_at,
    })
}
