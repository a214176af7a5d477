//! What a destination is: where it sends, for which purpose, and what it receives.

use serde::{Deserialize, Serialize};

use crate::{EventFilter, Mapping};

/// Most segments one destination follows.
const MAX_SEGMENTS: usize = 100;

/// What a destination receives, how events are chosen and how bodies are transformed:
/// the part of a destination kept as one JSON document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationSpec {
    #[serde(default)]
    pub receives: Receives,
    #[serde(default)]
    pub filter: EventFilter,
    #[serde(default)]
    pub mapping: Mapping,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receives {
    /// The tenant's events as clients sent them (after the filter).
    #[serde(default = "yes")]
    pub events: bool,
    /// Entries into and exits from these segments (`seg_…`).
    #[serde(default)]
    pub segments: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for Receives {
    fn default() -> Self {
        Receives {
            events: true,
            segments: Vec::new(),
        }
    }
}

impl DestinationSpec {
    /// Every mistake, each prefixed with where it is.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.receives.events && self.receives.segments.is_empty() {
            problems.push(
                "receives: a destination receives events, the changes of some segments, or both"
                    .to_owned(),
            );
        }
        if self.receives.segments.len() > MAX_SEGMENTS {
            problems.push(format!("receives.segments: at most {MAX_SEGMENTS}"));
        }
        problems.extend(self.filter.problems());
        problems.extend(self.mapping.problems());
        problems
    }

    pub fn follows_segment(&self, segment: &str) -> bool {
        self.receives.segments.iter().any(|s| s == segment)
    }
}

/// A purpose name as consent records carry it (`marketing`, `analytics`).
pub fn check_purpose(purpose: &str) -> Result<(), &'static str> {
    let ok = !purpose.is_empty()
        && purpose.len() <= 64
        && purpose
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err("a purpose has 1 to 64 letters, digits, `_`, `-` or `.`")
    }
}
