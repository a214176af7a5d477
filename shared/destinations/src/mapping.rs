//! A destination's transformation: fields renamed (moved) and fields dropped, applied to
//! the body before it is signed. Declarative on purpose: a tenant's mapping can never run
//! code in the dispatcher.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::path::FieldPath;

const MAX_RULES: usize = 100;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Moves: `{"from": "event.properties.total", "to": "amount"}`, applied in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rename: Vec<Rename>,
    /// Fields removed after the moves (`event.context.ip`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub from: String,
    pub to: String,
}

impl Mapping {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.rename.len() + self.drop.len() > MAX_RULES {
            problems.push(format!("mapping: at most {MAX_RULES} rules"));
        }
        for (i, r) in self.rename.iter().enumerate() {
            for (side, path) in [("from", &r.from), ("to", &r.to)] {
                if let Err(e) = FieldPath::parse(path) {
                    problems.push(format!("mapping.rename[{i}].{side}: {e}"));
                }
            }
        }
        for (i, path) in self.drop.iter().enumerate() {
            if let Err(e) = FieldPath::parse(path) {
                problems.push(format!("mapping.drop[{i}]: {e}"));
            }
        }
        problems
    }

    /// Applies the moves, then the drops. A field that is not there is skipped.
    pub fn apply(&self, body: &mut Value) {
        for rename in &self.rename {
            let (Ok(from), Ok(to)) = (FieldPath::parse(&rename.from), FieldPath::parse(&rename.to))
            else {
                continue;
            };
            if let Some(value) = from.take(body)
                && !to.put(body, value.clone())
            {
                // Nowhere to put it: left where it was rather than lost.
                from.put(body, value);
            }
        }
        for path in &self.drop {
            if let Ok(path) = FieldPath::parse(path) {
                path.take(body);
            }
        }
    }
}
