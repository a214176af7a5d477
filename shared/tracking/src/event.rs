//! Validation and normalization of one event.

use std::fmt;

use cdp_domain::{EventType, Identity, IdentityKind};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{Map, Value, json};

use crate::TrackingError;
use crate::ids::read_id;
use crate::limits::{MAX_EVENT_NAME_BYTES, MAX_ID_BYTES, MAX_MESSAGE_ID_BYTES};
use crate::request::{Endpoint, ParsedRequest, RawEvent};
use crate::time::{self, resolve};

/// A valid event, ready to be sealed and appended. `body` is the complete event as the
/// client sent it, with the server's fields added: `type`, `messageId` when it had none,
/// `receivedAt`, the corrected `timestamp`, and `originalTimestamp`.
#[derive(Clone, PartialEq)]
pub struct TrackedEvent {
    pub event_type: EventType,
    pub message_id: String,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub timestamp_clamped: bool,
    pub body: Map<String, Value>,
}

impl TrackedEvent {
    /// Whose key seals the event: the user when known, otherwise the anonymous visitor.
    pub fn subject(&self) -> Identity {
        let (kind, value) = match (&self.user_id, &self.anonymous_id) {
            (Some(user), _) => (IdentityKind::UserId, user),
            (None, Some(anonymous)) => (IdentityKind::AnonymousId, anonymous),
            (None, None) => unreachable!("validation requires userId or anonymousId"),
        };
        Identity::new(kind, value.clone()).expect("validated identifiers are valid identities")
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body).expect("a JSON map always serializes")
    }
}

// The body and the identifiers are personal data: never printed.
impl fmt::Debug for TrackedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedEvent")
            .field("event_type", &self.event_type)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// Validates and normalizes every event of a request; the first invalid one fails the
/// whole request, so a batch is stored entirely or not at all.
pub fn normalize(
    request: ParsedRequest,
    received_at: DateTime<Utc>,
    new_message_id: &mut dyn FnMut() -> String,
) -> Result<Vec<TrackedEvent>, TrackingError> {
    let received_at = received_at
        .duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(received_at);
    request
        .events
        .into_iter()
        .map(|raw| normalize_one(raw, request.endpoint, received_at, new_message_id))
        .collect()
}

/// The dotted path of the first key or string value holding U+0000, if any. The path is
/// built on the way back from a find, so an event without one costs no allocation.
fn nul_at(fields: &Map<String, Value>) -> Option<String> {
    let mut steps = in_object(fields)?;
    steps.reverse();
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.extend(key.escape_debug());
            }
            Step::Index(i) => path.push_str(&format!("[{i}]")),
        }
    }
    Some(path)
}

/// One step of a path, innermost first as [`in_object`] finds them.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn in_object(map: &Map<String, Value>) -> Option<Vec<Step<'_>>> {
    map.iter().find_map(|(key, value)| {
        let mut steps = if key.contains('\0') {
            Vec::new()
        } else {
            in_value(value)?
        };
        steps.push(Step::Key(key));
        Some(steps)
    })
}

fn in_value(value: &Value) -> Option<Vec<Step<'_>>> {
    match value {
        Value::String(s) => s.contains('\0').then(Vec::new),
        Value::Object(map) => in_object(map),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut steps = in_value(item)?;
            steps.push(Step::Index(i));
            Some(steps)
        }),
        _ => None,
    }
}

fn normalize_one(
    mut raw: RawEvent,
    endpoint: Endpoint,
    received_at: DateTime<Utc>,
    new_message_id: &mut dyn FnMut() -> String,
) -> Result<TrackedEvent, TrackingError> {
    let event_type = event_type(&raw, endpoint)?;
    if let Some(path) = nul_at(&raw.fields) {
        // PostgreSQL's text and jsonb cannot hold it: an event carrying one would be
        // stored in the log and then stop its tenant's projection.
        return Err(TrackingError::invalid(format!(
            "{} holds the NUL character (\\u0000), which cannot be stored",
            raw.field(&path)
        )));
    }
    raw.fields
        .insert("type".into(), Value::String(event_type.as_str().into()));

    let user_id = read_id(&mut raw, "userId", MAX_ID_BYTES)?;
    let anonymous_id = read_id(&mut raw, "anonymousId", MAX_ID_BYTES)?;
    let group_id = read_id(&mut raw, "groupId", MAX_ID_BYTES)?;
    let previous_id = read_id(&mut raw, "previousId", MAX_ID_BYTES)?;
    let prefix = raw.prefix();
    match event_type {
        EventType::Alias => {
            if previous_id.is_none() {
                return Err(TrackingError::invalid(format!(
                    "{prefix}previousId is required for alias"
                )));
            }
            if user_id.is_none() {
                return Err(TrackingError::invalid(format!(
                    "{prefix}userId is required for alias"
                )));
            }
        }
        _ if user_id.is_none() && anonymous_id.is_none() => {
            return Err(TrackingError::invalid(format!(
                "{prefix}userId or anonymousId is required"
            )));
        }
        EventType::Group if group_id.is_none() => {
            return Err(TrackingError::invalid(format!(
                "{prefix}groupId is required for group"
            )));
        }
        _ => {}
    }
    if event_type == EventType::Track {
        match raw.fields.get("event") {
            Some(Value::String(name)) if !name.trim().is_empty() => {
                if name.chars().any(char::is_control) {
                    return Err(TrackingError::invalid(format!(
                        "{} must not contain control characters",
                        raw.field("event")
                    )));
                }
                if name.len() > MAX_EVENT_NAME_BYTES {
                    return Err(TrackingError::invalid(format!(
                        "{} is longer than {MAX_EVENT_NAME_BYTES} bytes",
                        raw.field("event")
                    )));
                }
            }
            _ => {
                return Err(TrackingError::invalid(format!(
                    "{} is required for track: a non-empty string",
                    raw.field("event")
                )));
            }
        }
    }
    for name in ["name", "event", "category"] {
        if let Some(value) = raw.fields.get(name)
            && !matches!(value, Value::String(_) | Value::Null)
        {
            return Err(TrackingError::invalid(format!(
                "{} must be a string",
                raw.field(name)
            )));
        }
    }
    for name in ["properties", "traits", "context", "integrations"] {
        if let Some(value) = raw.fields.get(name)
            && !matches!(value, Value::Object(_) | Value::Null)
        {
            return Err(TrackingError::invalid(format!(
                "{} must be a JSON object",
                raw.field(name)
            )));
        }
    }

    let message_id = match read_id(&mut raw, "messageId", MAX_MESSAGE_ID_BYTES)? {
        Some(id) if id.starts_with(cdp_domain::SYSTEM_MESSAGE_ID_PREFIX) => {
            return Err(TrackingError::invalid(format!(
                "{} must not start with {:?}: that prefix is reserved for the system's own events",
                raw.field("messageId"),
                cdp_domain::SYSTEM_MESSAGE_ID_PREFIX
            )));
        }
        Some(id) => id,
        None => {
            let id = new_message_id();
            raw.fields
                .insert("messageId".into(), Value::String(id.clone()));
            id
        }
    };

    let time = resolve(&raw, received_at)?;
    let fields = &mut raw.fields;
    fields.insert(
        "receivedAt".into(),
        Value::String(time::format(received_at)),
    );
    fields.insert(
        "timestamp".into(),
        Value::String(time::format(time.timestamp)),
    );
    if let Some(original) = time.original {
        fields
            .entry("originalTimestamp")
            .or_insert(Value::String(original));
    }
    if time.clamped {
        fields.insert("_cdp".into(), json!({"timestampClamped": true}));
    }

    Ok(TrackedEvent {
        event_type,
        message_id,
        user_id,
        anonymous_id,
        timestamp: time.timestamp,
        received_at,
        timestamp_clamped: time.clamped,
        body: raw.fields,
    })
}

fn event_type(raw: &RawEvent, endpoint: Endpoint) -> Result<EventType, TrackingError> {
    let given = match raw.fields.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(TrackingError::invalid(format!(
                "{} must be a string",
                raw.field("type")
            )));
        }
    };
    match (endpoint, given) {
        (Endpoint::Single(expected), None) => Ok(expected),
        (Endpoint::Single(expected), Some(given)) if given == expected.as_str() => Ok(expected),
        (Endpoint::Single(expected), Some(_)) => Err(TrackingError::invalid(format!(
            "type does not match: this endpoint takes {expected} events"
        ))),
        (Endpoint::Batch, Some(given)) => given.parse().map_err(|_| {
            TrackingError::invalid(format!(
                "{} must be one of identify, track, page, screen, group, alias",
                raw.field("type")
            ))
        }),
        (Endpoint::Batch, None) => Err(TrackingError::invalid(format!(
            "{} is required in a batch",
            raw.field("type")
        ))),
    }
}
