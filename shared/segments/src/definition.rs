//! Computed traits: a name and the aggregation that gives its value, written out in full
//! or taken from a preset that marketers expect.

use cdp_profiles::{AggKind, Aggregation};
use serde_json::{Value, json};

use crate::condition::Window;
use crate::json::{Reader, fields, filters, name, window};
use crate::validate::Problem;

/// The event and property the order presets read, after the e-commerce tracking spec.
const ORDER_EVENT: &str = "Order Completed";
const ORDER_VALUE: &str = "revenue";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    TotalRevenue,
    OrderCount,
    AverageOrderValue,
    DaysSinceLastOrder,
    RfmScore,
}

/// The presets by the name a definition gives in `preset`.
pub const PRESETS: [(&str, Preset); 5] = [
    ("total_revenue", Preset::TotalRevenue),
    ("order_count", Preset::OrderCount),
    ("average_order_value", Preset::AverageOrderValue),
    ("days_since_last_order", Preset::DaysSinceLastOrder),
    ("rfm_score", Preset::RfmScore),
];

impl Preset {
    fn kind(self) -> AggKind {
        match self {
            Preset::TotalRevenue => AggKind::Sum,
            Preset::OrderCount => AggKind::Count,
            Preset::AverageOrderValue => AggKind::Avg,
            Preset::DaysSinceLastOrder => AggKind::DaysSinceLast,
            Preset::RfmScore => AggKind::Rfm,
        }
    }
}

/// A computed trait: its value on a profile is the aggregation's.
#[derive(Clone, Debug, PartialEq)]
pub struct ComputedTrait {
    pub name: String,
    pub aggregation: Aggregation,
    /// The window as it was written (days or hours), for reading back.
    pub window: Option<Window>,
    pub preset: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
pub struct DefinitionError(pub Vec<Problem>);

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl ComputedTrait {
    /// Reads a definition: `{"name", "preset"}` (with `event` and `property` to read
    /// other than `Order Completed` and `revenue`), or `{"name", "kind", "event",
    /// "property", "where", "window"}`.
    pub fn from_json(value: &Value) -> Result<ComputedTrait, DefinitionError> {
        let mut r = Reader::new();
        let definition = read(&mut r, value);
        r.finish(definition).map_err(DefinitionError)
    }

    /// The JSON form, as [`ComputedTrait::from_json`] reads it.
    pub fn to_json(&self) -> Value {
        let a = &self.aggregation;
        let mut out = json!({"name": self.name, "kind": a.kind, "event": a.event});
        if let Some(p) = &a.property {
            out["property"] = json!(p);
        }
        if !a.filters.is_empty() {
            out["where"] = json!(a.filters);
        }
        if let Some(w) = self.window {
            out["window"] = json!(w);
        }
        if let Some(p) = &self.preset {
            out["preset"] = json!(p);
        }
        out
    }
}

fn read(r: &mut Reader, value: &Value) -> Option<ComputedTrait> {
    let allowed = [
        "name", "preset", "kind", "event", "property", "where", "window",
    ];
    let object = fields(r, value, "$", &allowed)?;
    let trait_name = name(r, object, "$", "name");
    if let Some(n) = &trait_name
        && !valid_name(n)
    {
        r.problem(
            "$.name",
            "a name starts with a letter or `_` and holds only letters, digits and `_` (at most 64)",
        );
    }
    let preset = match object.get("preset") {
        None => None,
        Some(p) => match PRESETS.iter().find(|(n, _)| Some(*n) == p.as_str()) {
            Some((n, preset)) => Some((n.to_string(), *preset)),
            None => {
                let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                r.problem(
                    "$.preset",
                    format!("unknown preset: expected one of {}", names.join(", ")),
                );
                return None;
            }
        },
    };
    let kind = match (&preset, object.get("kind")) {
        (Some((_, p)), None) => Some(p.kind()),
        // What the JSON form writes back: the preset's own kind.
        (Some((_, p)), Some(k)) if *k == json!(p.kind()) => Some(p.kind()),
        (Some(_), Some(_)) => {
            r.problem("$.kind", "a preset sets the kind itself");
            None
        }
        (None, Some(k)) => match serde_json::from_value::<AggKind>(k.clone()) {
            Ok(kind) => Some(kind),
            Err(_) => {
                let kinds: Vec<String> = AggKind::ALL
                    .iter()
                    .map(|k| serde_json::to_value(k).expect("serializes").to_string())
                    .collect();
                r.problem(
                    "$.kind",
                    format!("unknown kind {k}: expected one of {}", kinds.join(", ")),
                );
                None
            }
        },
        (None, None) => {
            r.problem("$.kind", "a kind or a preset is needed");
            None
        }
    };
    let event = match (&preset, object.get("event")) {
        (Some(_), None) => Some(ORDER_EVENT.to_owned()),
        _ => name(r, object, "$", "event"),
    };
    let kind = kind?;
    let property = match (&preset, object.get("property")) {
        (Some(_), None) if kind.needs_property() => Some(ORDER_VALUE.to_owned()),
        (_, None) if kind.needs_property() => {
            r.problem(
                "$.property",
                format!("a {} needs the property it reads", json!(kind)),
            );
            None
        }
        (_, Some(_)) if !kind.needs_property() => {
            r.problem("$.property", format!("a {} reads no property", json!(kind)));
            None
        }
        (_, None) => None,
        (_, Some(_)) => name(r, object, "$", "property"),
    };
    let filters = filters(r, object.get("where"), "$.where");
    let window = match object.get("window") {
        None => None,
        Some(w) => window(r, w, "$.window"),
    };
    Some(ComputedTrait {
        name: trait_name?,
        aggregation: Aggregation {
            kind,
            event: event?,
            property,
            filters,
            window_hours: window.map(Window::hours),
        },
        window,
        preset: preset.map(|(n, _)| n),
    })
}
