//! Webhook mappings: a declarative description of how a third-party JSON payload (an
//! e-commerce order, a payment, a support ticket) becomes a tracking-spec event. Data, not
//! code: a mapping can only pick, rename and fix values.
//!
//! A value is one of:
//! * a JSON constant, such as `"Order Completed"`;
//! * `{"path": "customer.id"}`: the value at a dotted path (numbers index arrays; `"$"` is
//!   the whole payload), optionally `{"path": "created", "as": "unix_seconds"}` to read
//!   epoch seconds as a timestamp;
//! * `{"first_of": [value, value, …]}`: the first that is present and not null;
//! * `{"fields": {"name": value, …}}`: an object built field by field (absent values are left out).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

use cdp_domain::EventType;
use serde_json::value::RawValue;

use crate::limits::MAX_BATCH_EVENTS;
use crate::request::{Endpoint, ParsedRequest, RawEvent};
use crate::{ErrorKind, TrackingError};

#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("invalid mapping: {0}")]
    Invalid(String),
    #[error("unknown mapping preset {0:?}; the presets are ecommerce_order and payment")]
    UnknownPreset(String),
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ValueSpec {
    Path {
        path: String,
        #[serde(default, rename = "as")]
        convert: Option<Conversion>,
    },
    FirstOf {
        first_of: Vec<ValueSpec>,
    },
    Fields {
        fields: BTreeMap<String, ValueSpec>,
    },
    Constant(Value),
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// Seconds since 1970, as a number or a numeric string, to an ISO 8601 timestamp.
    UnixSeconds,
    /// Milliseconds since 1970, likewise.
    UnixMillis,
}

/// The spec fields a mapping can fill. `type` is required; everything else is optional.
const MAPPED_FIELDS: [&str; 13] = [
    "event",
    "userId",
    "anonymousId",
    "groupId",
    "previousId",
    "messageId",
    "timestamp",
    "name",
    "category",
    "properties",
    "traits",
    "context",
    "integrations",
];

#[derive(Clone, Debug, PartialEq)]
pub struct WebhookMapping {
    event_type: EventType,
    fields: Vec<(&'static str, ValueSpec)>,
}

impl WebhookMapping {
    /// Reads a mapping from its JSON form, or `{"preset": "name"}` for a shipped one.
    pub fn from_json(config: &Value) -> Result<WebhookMapping, MappingError> {
        let Value::Object(object) = config else {
            return Err(MappingError::Invalid("a mapping is a JSON object".into()));
        };
        if let Some(preset) = object.get("preset") {
            let name = preset
                .as_str()
                .ok_or_else(|| MappingError::Invalid("preset must be a string".into()))?;
            return Self::preset(name);
        }
        let event_type = match object.get("type") {
            Some(Value::String(t)) => t.parse::<EventType>().map_err(|_| {
                MappingError::Invalid(format!("type {t:?} is not a tracking call type"))
            })?,
            _ => return Err(MappingError::Invalid("type is required".into())),
        };
        if event_type == EventType::Alias {
            return Err(MappingError::Invalid(
                "alias cannot be mapped from a webhook".into(),
            ));
        }
        for key in object.keys() {
            if key != "type" && !MAPPED_FIELDS.contains(&key.as_str()) {
                return Err(MappingError::Invalid(format!(
                    "unknown field {key:?}; a mapping may set type and {}",
                    MAPPED_FIELDS.join(", ")
                )));
            }
        }
        let mut fields = Vec::new();
        for name in MAPPED_FIELDS {
            if let Some(spec) = object.get(name) {
                let spec = parse_spec(spec, name)?;
                fields.push((name, spec));
            }
        }
        Ok(WebhookMapping { event_type, fields })
    }

    /// A shipped mapping: `ecommerce_order` (an order-created webhook of the usual
    /// e-commerce platform shape) or `payment` (a payment-provider event).
    pub fn preset(name: &str) -> Result<WebhookMapping, MappingError> {
        let text = match name {
            "ecommerce_order" => include_str!("../presets/ecommerce_order.json"),
            "payment" => include_str!("../presets/payment.json"),
            other => return Err(MappingError::UnknownPreset(other.to_owned())),
        };
        let value: Value = serde_json::from_str(text).expect("shipped presets are valid JSON");
        Self::from_json(&value)
    }

    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// Builds the spec event for one payload. Without a mapped `messageId` the event's id is
    /// a hash of the payload, so a webhook delivered twice is stored once. Without mapped
    /// `properties`, a track, page or screen event keeps the whole payload as its properties,
    /// so nothing the sender said is lost.
    pub fn apply(&self, payload: &Value, raw_payload: &[u8]) -> Map<String, Value> {
        let mut event = Map::new();
        event.insert(
            "type".into(),
            Value::String(self.event_type.as_str().into()),
        );
        for (name, spec) in &self.fields {
            if let Some(value) = evaluate(spec, payload) {
                event.insert((*name).to_owned(), value);
            }
        }
        let keeps_properties = matches!(
            self.event_type,
            EventType::Track | EventType::Page | EventType::Screen
        );
        if keeps_properties && !event.contains_key("properties") && payload.is_object() {
            event.insert("properties".into(), payload.clone());
        }
        if !event.contains_key("messageId") {
            let digest = Sha256::digest(raw_payload);
            event.insert(
                "messageId".into(),
                Value::String(format!("whk-{}", hex::encode(&digest[..16]))),
            );
        }
        event
    }
}

/// Turns a webhook body into events: an object is one payload, an array several. Each
/// mapped event may be as large as a whole request body, since third-party payloads are
/// often larger than a tracking call.
pub fn webhook_request(
    mapping: &WebhookMapping,
    body: &[u8],
) -> Result<ParsedRequest, TrackingError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| TrackingError::invalid("the request body is not valid UTF-8"))?;
    let raw: &RawValue = serde_json::from_str(text)
        .map_err(|e| TrackingError::invalid(format!("the request body is not JSON: {e}")))?;
    let payloads: Vec<(Option<usize>, &RawValue)> = if raw.get().trim_start().starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(raw.get())
            .map_err(|e| TrackingError::invalid(format!("the request body is not JSON: {e}")))?;
        if items.len() > MAX_BATCH_EVENTS {
            return Err(TrackingError {
                kind: ErrorKind::TooManyEvents,
                message: format!(
                    "{} payloads in one request; at most {MAX_BATCH_EVENTS}",
                    items.len()
                ),
            });
        }
        items
            .into_iter()
            .enumerate()
            .map(|(i, r)| (Some(i), r))
            .collect()
    } else {
        vec![(None, raw)]
    };
    let mut events = Vec::with_capacity(payloads.len());
    for (index, raw) in payloads {
        let payload: Value = serde_json::from_str(raw.get())
            .map_err(|e| TrackingError::invalid(format!("the request body is not JSON: {e}")))?;
        let fields = mapping.apply(&payload, raw.get().as_bytes());
        events.push(RawEvent { index, fields });
    }
    Ok(ParsedRequest {
        endpoint: Endpoint::Single(mapping.event_type),
        write_key: None,
        events,
    })
}

fn parse_spec(value: &Value, at: &str) -> Result<ValueSpec, MappingError> {
    let spec: ValueSpec = serde_json::from_value(value.clone())
        .map_err(|e| MappingError::Invalid(format!("{at}: {e}")))?;
    check(&spec, at)?;
    Ok(spec)
}

/// An object that is none of the three forms parses as a constant; refuse it, since it is
/// almost always a mistyped path.
fn check(spec: &ValueSpec, at: &str) -> Result<(), MappingError> {
    match spec {
        ValueSpec::Constant(Value::Object(_)) => Err(MappingError::Invalid(format!(
            "{at}: an object must be {{\"path\": …}}, {{\"first_of\": […]}} or {{\"fields\": {{…}}}}"
        ))),
        ValueSpec::Fields { fields } => fields
            .iter()
            .try_for_each(|(name, inner)| check(inner, &format!("{at}.{name}"))),
        ValueSpec::FirstOf { first_of } => first_of
            .iter()
            .enumerate()
            .try_for_each(|(i, inner)| check(inner, &format!("{at}.first_of[{i}]"))),
        _ => Ok(()),
    }
}

fn evaluate(spec: &ValueSpec, payload: &Value) -> Option<Value> {
    let value = match spec {
        ValueSpec::Constant(v) => Some(v.clone()),
        ValueSpec::Path { path, convert } => {
            let found = lookup(payload, path)?;
            match convert {
                None => Some(found.clone()),
                Some(conversion) => convert_time(found, *conversion),
            }
        }
        ValueSpec::FirstOf { first_of } => first_of.iter().find_map(|s| evaluate(s, payload)),
        ValueSpec::Fields { fields } => Some(Value::Object(
            fields
                .iter()
                .filter_map(|(name, inner)| Some((name.clone(), evaluate(inner, payload)?)))
                .collect(),
        )),
    };
    value.filter(|v| !v.is_null())
}

fn lookup<'a>(payload: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() || path == "$" {
        return Some(payload);
    }
    path.split('.')
        .try_fold(payload, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        })
}

fn convert_time(value: &Value, conversion: Conversion) -> Option<Value> {
    let number = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    let millis = match conversion {
        Conversion::UnixSeconds => number * 1000.0,
        Conversion::UnixMillis => number,
    };
    if !millis.is_finite() {
        return None;
    }
    let time = chrono::DateTime::from_timestamp_millis(millis as i64)?;
    Some(Value::String(crate::time::format(time)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_constants_first_of_and_fields() {
        let mapping = WebhookMapping::from_json(&json!({
            "type": "track",
            "event": "Ticket Opened",
            "userId": {"first_of": [{"path": "requester.id"}, {"path": "requester.email"}]},
            "properties": {"fields": {"subject": {"path": "ticket.subject"}, "first_tag": {"path": "ticket.tags.0"}, "missing": {"path": "nope"}}}
        }))
        .unwrap();
        let payload = json!({"requester": {"email": "a@b.c"}, "ticket": {"subject": "Help", "tags": ["billing", "urgent"]}});
        let event = mapping.apply(&payload, b"raw");
        assert_eq!(event["type"], "track");
        assert_eq!(event["event"], "Ticket Opened");
        assert_eq!(event["userId"], "a@b.c");
        assert_eq!(
            event["properties"],
            json!({"subject": "Help", "first_tag": "billing"})
        );
        assert!(event["messageId"].as_str().unwrap().starts_with("whk-"));
    }

    #[test]
    fn unmapped_properties_keep_the_whole_payload() {
        let mapping = WebhookMapping::from_json(
            &json!({"type": "track", "event": "Ticket Opened", "userId": {"path": "requester.id"}}),
        )
        .unwrap();
        let payload =
            json!({"requester": {"id": "u-1"}, "ticket": {"subject": "Help", "priority": "high"}});
        assert_eq!(mapping.apply(&payload, b"raw")["properties"], payload);
        let identify =
            WebhookMapping::from_json(&json!({"type": "identify", "userId": {"path": "id"}}))
                .unwrap();
        assert!(
            !identify
                .apply(&json!({"id": "u"}), b"raw")
                .contains_key("properties")
        );
    }

    #[test]
    fn the_same_payload_gets_the_same_message_id() {
        let mapping = WebhookMapping::from_json(&json!({"type": "track", "event": "x"})).unwrap();
        let a = mapping.apply(&json!({}), b"{\"a\":1}");
        let b = mapping.apply(&json!({}), b"{\"a\":1}");
        let c = mapping.apply(&json!({}), b"{\"a\":2}");
        assert_eq!(a["messageId"], b["messageId"]);
        assert_ne!(a["messageId"], c["messageId"]);
    }

    #[test]
    fn unix_times_become_timestamps() {
        let mapping = WebhookMapping::from_json(&json!({
            "type": "track", "event": "x", "timestamp": {"path": "created", "as": "unix_seconds"}
        }))
        .unwrap();
        let event = mapping.apply(&json!({"created": 1764325200}), b"");
        assert_eq!(event["timestamp"], "2025-11-28T10:20:00Z");
    }

    #[test]
    fn bad_mappings_are_refused_with_a_reason() {
        for (bad, needle) in [
            (json!([]), "JSON object"),
            (json!({"event": "x"}), "type is required"),
            (json!({"type": "purchase"}), "not a tracking call type"),
            (json!({"type": "alias"}), "alias"),
            (json!({"type": "track", "evnt": "x"}), "unknown field"),
            (json!({"type": "track", "userId": {"pth": "a"}}), "userId"),
            (
                json!({"type": "track", "timestamp": {"path": "a", "as": "weeks"}}),
                "timestamp",
            ),
            (json!({"preset": "nope"}), "unknown mapping preset"),
        ] {
            let err = WebhookMapping::from_json(&bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
        }
    }

    #[test]
    fn presets_load() {
        for name in ["ecommerce_order", "payment"] {
            WebhookMapping::preset(name).unwrap();
        }
    }
}
