//! The envelope of a tracking request: one event, or a batch with shared fields.

use std::collections::HashMap;

use cdp_domain::EventType;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::limits::{MAX_BATCH_EVENTS, MAX_EVENT_BYTES};
use crate::{ErrorKind, TrackingError};

/// Which endpoint received the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Single(EventType),
    Batch,
}

/// One event of a request before validation, with where it stood.
#[derive(Clone, Debug, PartialEq)]
pub struct RawEvent {
    /// `Some(i)` for the i-th event of a batch.
    pub index: Option<usize>,
    pub fields: Map<String, Value>,
}

impl RawEvent {
    /// How to name the event in an error message: `"batch[3]: "`, or nothing for a single event.
    pub(crate) fn prefix(&self) -> String {
        self.index
            .map(|i| format!("batch[{i}]: "))
            .unwrap_or_default()
    }

    /// How to name a field of this event in an error message.
    pub(crate) fn field(&self, name: &str) -> String {
        match self.index {
            Some(i) => format!("batch[{i}].{name}"),
            None => name.to_owned(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParsedRequest {
    pub endpoint: Endpoint,
    /// The write key given in the body, if any (it is removed from the events).
    pub write_key: Option<String>,
    pub events: Vec<RawEvent>,
}

/// Parses a request body: checks it is a JSON object, takes out the write key, splits a
/// batch into its events (applying the batch's `context`, `integrations` and `sentAt`), and
/// enforces the per-event size and per-batch count limits.
pub fn parse_request(endpoint: Endpoint, body: &[u8]) -> Result<ParsedRequest, TrackingError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| TrackingError::invalid("the request body is not valid UTF-8"))?;
    let mut top: HashMap<String, &RawValue> = serde_json::from_str(text).map_err(|e| {
        TrackingError::invalid(format!("the request body is not a JSON object: {e}"))
    })?;
    let write_key = match top.remove("writeKey") {
        None => None,
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::String(key)) => Some(key),
            Ok(Value::Null) => None,
            _ => return Err(TrackingError::invalid("writeKey must be a string")),
        },
    };

    let events = match endpoint {
        Endpoint::Single(_) => {
            if body.len() > MAX_EVENT_BYTES {
                return Err(too_large(None, body.len()));
            }
            vec![RawEvent {
                index: None,
                fields: into_map(top, "the request body")?,
            }]
        }
        Endpoint::Batch => split_batch(top)?,
    };
    Ok(ParsedRequest {
        endpoint,
        write_key,
        events,
    })
}

fn split_batch(mut top: HashMap<String, &RawValue>) -> Result<Vec<RawEvent>, TrackingError> {
    let raw_batch = top
        .remove("batch")
        .ok_or_else(|| TrackingError::invalid("batch is required: an array of events"))?;
    let items: Vec<&RawValue> = serde_json::from_str(raw_batch.get())
        .map_err(|_| TrackingError::invalid("batch must be an array of events"))?;
    if items.len() > MAX_BATCH_EVENTS {
        return Err(TrackingError {
            kind: ErrorKind::TooManyEvents,
            message: format!(
                "the batch holds {} events; at most {MAX_BATCH_EVENTS} are allowed per request",
                items.len()
            ),
        });
    }
    let shared = into_map(top, "the request body")?;
    let mut events = Vec::with_capacity(items.len());
    for (index, raw) in items.into_iter().enumerate() {
        if raw.get().len() > MAX_EVENT_BYTES {
            return Err(too_large(Some(index), raw.get().len()));
        }
        let mut fields = match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(TrackingError::invalid(format!(
                    "batch[{index}] must be a JSON object"
                )));
            }
        };
        fields.remove("writeKey");
        inherit(&mut fields, &shared);
        events.push(RawEvent {
            index: Some(index),
            fields,
        });
    }
    Ok(events)
}

/// Batch-level `context` and `integrations` apply to every event (the event's own keys
/// win), and a batch-level `sentAt` stands for events that have none.
fn inherit(event: &mut Map<String, Value>, shared: &Map<String, Value>) {
    for key in ["context", "integrations"] {
        let Some(Value::Object(batch_level)) = shared.get(key) else {
            continue;
        };
        match event.get_mut(key) {
            None | Some(Value::Null) => {
                event.insert(key.to_owned(), Value::Object(batch_level.clone()));
            }
            Some(Value::Object(own)) => {
                for (k, v) in batch_level {
                    own.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            // A non-object is reported by validation, with the field's name.
            Some(_) => {}
        }
    }
    if let Some(sent_at) = shared.get("sentAt")
        && !event.contains_key("sentAt")
    {
        event.insert("sentAt".to_owned(), sent_at.clone());
    }
}

fn into_map(
    top: HashMap<String, &RawValue>,
    what: &str,
) -> Result<Map<String, Value>, TrackingError> {
    let mut map = Map::new();
    for (key, raw) in top {
        let value = serde_json::from_str(raw.get())
            .map_err(|e| TrackingError::invalid(format!("{what} is not valid JSON: {e}")))?;
        map.insert(key, value);
    }
    Ok(map)
}

fn too_large(index: Option<usize>, bytes: usize) -> TrackingError {
    let which = match index {
        Some(i) => format!("batch[{i}]"),
        None => "the event".to_owned(),
    };
    TrackingError {
        kind: ErrorKind::EventTooLarge,
        message: format!(
            "{which} is {bytes} bytes; an event may be at most {MAX_EVENT_BYTES} bytes (32 KB)"
        ),
    }
}
