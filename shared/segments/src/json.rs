//! Reading a condition's JSON form, naming the path of every node that is wrong.

use cdp_profiles::compare::Op;
use serde_json::{Map, Value};

use crate::condition::{Comparison, Condition, Performed, PropertyFilter, Times, Window};
use crate::validate::Problem;

/// Nesting deeper than this is refused (no marketer needs it; a parser must not recurse
/// without bound on hostile input).
pub(crate) const MAX_DEPTH: usize = 32;

/// Nodes in one condition at most.
pub(crate) const MAX_NODES: usize = 500;

const KINDS: &str = "and, or, not, trait, computed, performed, in_segment, consent";

pub(crate) struct Reader {
    problems: Vec<Problem>,
    nodes: usize,
}

impl Reader {
    pub(crate) fn new() -> Reader {
        Reader {
            problems: Vec::new(),
            nodes: 0,
        }
    }

    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, Vec<Problem>> {
        match value {
            Some(v) if self.problems.is_empty() => Ok(v),
            _ => Err(self.problems),
        }
    }

    pub(crate) fn problem(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: path.to_owned(),
            message: message.into(),
        });
    }
}

/// Reads a condition from its JSON form. Every problem found is reported, each with the
/// path of its node (`$.and[1].trait.op`).
pub fn from_json(value: &Value) -> Result<Condition, Vec<Problem>> {
    let mut reader = Reader::new();
    let condition = node(&mut reader, value, "$", 0);
    reader.finish(condition)
}

fn node(r: &mut Reader, value: &Value, path: &str, depth: usize) -> Option<Condition> {
    r.nodes += 1;
    if r.nodes > MAX_NODES {
        if r.nodes == MAX_NODES + 1 {
            r.problem(path, format!("a condition has at most {MAX_NODES} nodes"));
        }
        return None;
    }
    if depth > MAX_DEPTH {
        r.problem(path, format!("conditions nest at most {MAX_DEPTH} deep"));
        return None;
    }
    let Some(object) = value.as_object().filter(|o| o.len() == 1) else {
        r.problem(
            path,
            format!("expected an object with one key, one of {KINDS}"),
        );
        return None;
    };
    let (kind, body) = object.iter().next().expect("one key");
    let here = format!("{path}.{kind}");
    match kind.as_str() {
        "and" | "or" => {
            let Some(items) = body.as_array().filter(|a| !a.is_empty()) else {
                r.problem(&here, "expected a non-empty list of conditions");
                return None;
            };
            let items: Vec<Option<Condition>> = items
                .iter()
                .enumerate()
                .map(|(i, item)| node(r, item, &format!("{here}[{i}]"), depth + 1))
                .collect();
            let items: Option<Vec<Condition>> = items.into_iter().collect();
            let mut items = items?;
            // A group of one is its member (and reads back so from the text form).
            if items.len() == 1 {
                return items.pop();
            }
            Some(if kind == "and" {
                Condition::And(items)
            } else {
                Condition::Or(items)
            })
        }
        "not" => node(r, body, &here, depth + 1).map(|c| Condition::Not(Box::new(c))),
        "trait" | "computed" => {
            let cmp = comparison(r, body, &here, "name")?;
            Some(if kind == "trait" {
                Condition::Trait(cmp)
            } else {
                Condition::Computed(cmp)
            })
        }
        "performed" => performed(r, body, &here),
        "in_segment" | "consent" => {
            let Some(text) = body.as_str().filter(|s| !s.trim().is_empty()) else {
                r.problem(&here, "expected a non-empty string");
                return None;
            };
            Some(if kind == "consent" {
                Condition::Consent(text.to_lowercase())
            } else {
                Condition::InSegment(text.to_owned())
            })
        }
        other => {
            r.problem(
                path,
                format!("unknown kind of condition `{other}`: expected one of {KINDS}"),
            );
            None
        }
    }
}

pub(crate) fn fields<'a>(
    r: &mut Reader,
    body: &'a Value,
    path: &str,
    allowed: &[&str],
) -> Option<&'a Map<String, Value>> {
    let Some(object) = body.as_object() else {
        r.problem(path, "expected an object");
        return None;
    };
    for key in object.keys() {
        if !allowed.contains(&key.as_str()) {
            r.problem(
                &format!("{path}.{key}"),
                format!("unknown field: expected {}", allowed.join(", ")),
            );
        }
    }
    Some(object)
}

pub(crate) fn name(
    r: &mut Reader,
    object: &Map<String, Value>,
    path: &str,
    key: &str,
) -> Option<String> {
    match object.get(key).and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() && n.len() <= 200 => Some(n.to_owned()),
        _ => {
            r.problem(
                &format!("{path}.{key}"),
                "expected a non-empty string of at most 200 characters",
            );
            None
        }
    }
}

fn op(r: &mut Reader, object: &Map<String, Value>, path: &str) -> Option<Op> {
    let at = format!("{path}.op");
    let Some(text) = object.get("op") else {
        r.problem(&at, "an operator is needed");
        return None;
    };
    match serde_json::from_value::<Op>(text.clone()) {
        Ok(op) => Some(op),
        Err(_) => {
            let known: Vec<String> = Op::ALL
                .iter()
                .map(|o| serde_json::to_value(o).expect("serializes").to_string())
                .collect();
            r.problem(
                &at,
                format!(
                    "unknown operator {text}: expected one of {}",
                    known.join(", ")
                ),
            );
            None
        }
    }
}

/// `{name|property, op, value}`, with the value checked against what the operator needs.
fn comparison(r: &mut Reader, body: &Value, path: &str, subject: &str) -> Option<Comparison> {
    let object = fields(r, body, path, &[subject, "op", "value"])?;
    let name = name(r, object, path, subject);
    let op = op(r, object, path)?;
    let value = object.get("value").cloned().filter(|v| !v.is_null());
    if let Some(why) = op.check_operand(value.as_ref()) {
        r.problem(&format!("{path}.value"), why);
        return None;
    }
    if value.as_ref().is_some_and(|v| !plain(v, true)) {
        r.problem(
            &format!("{path}.value"),
            "expected a string, a number, a boolean or a list of those",
        );
        return None;
    }
    Some(Comparison {
        name: name?,
        op,
        value: value.unwrap_or(Value::Null),
    })
}

/// A value the text form can write: a scalar, or (at the top) a list of scalars.
fn plain(value: &Value, top: bool) -> bool {
    match value {
        Value::Object(_) | Value::Null => false,
        Value::Array(items) => top && items.iter().all(|v| plain(v, false)),
        _ => true,
    }
}

fn performed(r: &mut Reader, body: &Value, path: &str) -> Option<Condition> {
    let object = fields(r, body, path, &["event", "where", "times", "within"])?;
    let event = name(r, object, path, "event");
    let filters = filters(r, object.get("where"), &format!("{path}.where"));
    let times = match object.get("times") {
        None => None,
        Some(t) => times(r, t, &format!("{path}.times")),
    };
    let within = match object.get("within") {
        None => None,
        Some(w) => window(r, w, &format!("{path}.within")),
    };
    Some(Condition::Performed(Performed {
        event: event?,
        filters,
        times,
        within,
    }))
}

fn times(r: &mut Reader, body: &Value, path: &str) -> Option<Times> {
    let object = fields(r, body, path, &["op", "value"])?;
    let op = op(r, object, path)?;
    if !matches!(op, Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte) {
        r.problem(
            &format!("{path}.op"),
            "a number of times compares with eq, neq, lt, lte, gt or gte",
        );
        return None;
    }
    match object.get("value").and_then(Value::as_u64) {
        Some(value) if value <= 1_000_000 => Some(Times { op, value }),
        _ => {
            r.problem(
                &format!("{path}.value"),
                "expected a whole number from 0 to 1000000",
            );
            None
        }
    }
}

/// A list of property filters (`where`).
pub(crate) fn filters(r: &mut Reader, body: Option<&Value>, path: &str) -> Vec<PropertyFilter> {
    let mut filters = Vec::new();
    match body {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("{path}[{i}]");
                if let Some(c) = comparison(r, item, &at, "property") {
                    filters.push(PropertyFilter {
                        property: c.name,
                        op: c.op,
                        value: c.value,
                    });
                }
            }
        }
        Some(_) => r.problem(path, "expected a list of property filters"),
    }
    filters
}

pub(crate) fn window(r: &mut Reader, body: &Value, path: &str) -> Option<Window> {
    let object = fields(r, body, path, &["days", "hours"])?;
    let read = |key: &str| {
        object
            .get(key)
            .map(|v| v.as_u64().filter(|n| (1..=3650 * 24).contains(n)))
    };
    let window = match (read("days"), read("hours")) {
        (Some(Some(d)), None) if d <= 3650 => Some(Window::Days(d as u32)),
        (None, Some(Some(h))) => Some(Window::Hours(h as u32)),
        _ => None,
    };
    if window.is_none() {
        r.problem(
            path,
            "expected {\"days\": N} (1 to 3650) or {\"hours\": N} (1 to 87600)",
        );
    }
    window
}
