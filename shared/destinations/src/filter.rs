//! Which events a destination receives: by source, type and name, and by conditions on
//! the event's fields. Every part given must hold; a part left empty lets everything pass.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::path::FieldPath;

/// Most entries in one list of a filter.
const MAX_ENTRIES: usize = 100;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Source ids (`src_…`); empty means every source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
    /// Event types (`track`, `identify`, `page`, …); empty means every type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    /// Names of track events (`Order Completed`); empty means every name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_names: Vec<String>,
    /// Conditions on the event's fields, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<FieldCondition>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    /// A dotted path into the event as sent (`properties.total`, `context.locale`).
    pub path: String,
    pub op: FieldOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    /// A string containing the value, or an array holding it.
    Contains,
    /// Equal to one of the values of an array.
    In,
    Exists,
    NotExists,
}

/// An event as a filter sees it.
pub struct EventFacts<'a> {
    pub source: Option<&'a str>,
    pub event_type: &'a str,
    /// The event as the client sent it.
    pub body: &'a Value,
}

impl EventFilter {
    /// Every mistake, as `filter.<field>: <problem>`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, list) in [
            ("sources", &self.sources),
            ("event_types", &self.event_types),
            ("event_names", &self.event_names),
        ] {
            if list.len() > MAX_ENTRIES {
                problems.push(format!("filter.{name}: at most {MAX_ENTRIES} entries"));
            }
            if list.iter().any(|v| v.is_empty() || v.len() > 200) {
                problems.push(format!("filter.{name}: entries have 1 to 200 characters"));
            }
        }
        if self.conditions.len() > MAX_ENTRIES {
            problems.push(format!(
                "filter.conditions: at most {MAX_ENTRIES} conditions"
            ));
        }
        for (i, c) in self.conditions.iter().enumerate() {
            if let Err(e) = FieldPath::parse(&c.path) {
                problems.push(format!("filter.conditions[{i}].path: {e}"));
            }
            let needs_value = !matches!(c.op, FieldOp::Exists | FieldOp::NotExists);
            match (&c.value, needs_value) {
                (None, true) => problems.push(format!(
                    "filter.conditions[{i}].value: this op needs a value"
                )),
                (Some(_), false) => problems.push(format!(
                    "filter.conditions[{i}].value: exists and not_exists take no value"
                )),
                _ => {}
            }
            if c.op == FieldOp::In && !c.value.as_ref().is_some_and(Value::is_array) {
                problems.push(format!("filter.conditions[{i}].value: `in` takes an array"));
            }
            let ordered = matches!(
                c.op,
                FieldOp::Gt | FieldOp::Gte | FieldOp::Lt | FieldOp::Lte
            );
            if ordered
                && !c
                    .value
                    .as_ref()
                    .is_some_and(|v| v.is_number() || v.is_string())
            {
                problems.push(format!(
                    "filter.conditions[{i}].value: comparisons take a number or a string"
                ));
            }
        }
        problems
    }

    pub fn matches(&self, event: &EventFacts<'_>) -> bool {
        let listed = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l == v))
        };
        listed(&self.sources, event.source)
            && listed(&self.event_types, Some(event.event_type))
            && listed(
                &self.event_names,
                event.body.get("event").and_then(Value::as_str),
            )
            && self.conditions.iter().all(|c| c.holds(event.body))
    }
}

impl FieldCondition {
    fn holds(&self, body: &Value) -> bool {
        // Checked when the destination was saved; a path that no longer parses matches nothing.
        let Ok(path) = FieldPath::parse(&self.path) else {
            return false;
        };
        let found = path.get(body).filter(|v| !v.is_null());
        let Some(value) = &self.value else {
            return match self.op {
                FieldOp::Exists => found.is_some(),
                FieldOp::NotExists => found.is_none(),
                _ => false,
            };
        };
        let Some(found) = found else {
            return self.op == FieldOp::Neq;
        };
        match self.op {
            FieldOp::Eq => equal(found, value),
            FieldOp::Neq => !equal(found, value),
            FieldOp::Gt => compare(found, value).is_some_and(|o| o.is_gt()),
            FieldOp::Gte => compare(found, value).is_some_and(|o| o.is_ge()),
            FieldOp::Lt => compare(found, value).is_some_and(|o| o.is_lt()),
            FieldOp::Lte => compare(found, value).is_some_and(|o| o.is_le()),
            FieldOp::Contains => match (found, value) {
                (Value::String(s), Value::String(part)) => s.contains(part.as_str()),
                (Value::Array(items), v) => items.iter().any(|item| equal(item, v)),
                _ => false,
            },
            FieldOp::In => value
                .as_array()
                .is_some_and(|options| options.iter().any(|o| equal(found, o))),
            FieldOp::Exists | FieldOp::NotExists => false,
        }
    }
}

/// Numbers compare by value (`1` equals `1.0`), everything else as JSON.
fn equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}
