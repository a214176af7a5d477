//! Aggregations: per-profile figures folded from the events of one name (a count, a sum,
//! the last value of a property, ...), optionally over a rolling window. Computed traits
//! and segments' event conditions are both aggregations; the projector keeps each
//! profile's state of every aggregation its tenant defines.
//!
//! Folding is independent of the order events come in, and two states merge (when their
//! profiles do) into the state one profile would have had: so a rebuild, a backfill and
//! incremental processing all agree.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::compare::{Op, compare, number_of};

/// Events of a window kept per profile and aggregation at most; past it the oldest go
/// (the figure then covers the latest events only).
pub const MAX_WINDOW_ENTRIES: usize = 2_000;

/// Distinct values counted per profile and aggregation at most; values first seen past it
/// are not counted.
pub const MAX_DISTINCT_VALUES: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggKind {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    MostFrequent,
    DistinctCount,
    DistinctList,
    /// Whole days since the latest such event.
    DaysSinceLast,
    /// Recency, frequency and monetary scores 1–5 as a three-digit text ("545").
    Rfm,
}

impl AggKind {
    pub const ALL: [AggKind; 12] = [
        AggKind::Count,
        AggKind::Sum,
        AggKind::Avg,
        AggKind::Min,
        AggKind::Max,
        AggKind::First,
        AggKind::Last,
        AggKind::MostFrequent,
        AggKind::DistinctCount,
        AggKind::DistinctList,
        AggKind::DaysSinceLast,
        AggKind::Rfm,
    ];

    /// Whether it reads a property of the events (the others count events).
    pub fn needs_property(self) -> bool {
        !matches!(self, AggKind::Count | AggKind::DaysSinceLast)
    }

    /// Whether its value is a number (for validating comparisons).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            AggKind::Count
                | AggKind::Sum
                | AggKind::Avg
                | AggKind::Min
                | AggKind::Max
                | AggKind::DistinctCount
                | AggKind::DaysSinceLast
        )
    }

    fn numeric_input(self) -> bool {
        matches!(
            self,
            AggKind::Sum | AggKind::Avg | AggKind::Min | AggKind::Max | AggKind::Rfm
        )
    }
}

/// The aggregations a tenant defines, by key.
pub type Aggregations = std::sync::Arc<BTreeMap<String, Aggregation>>;

/// A condition on one property of an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropertyFilter {
    pub property: String,
    pub op: Op,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

/// What is folded: events named `event` that pass every filter, inside the window if any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aggregation {
    pub kind: AggKind,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    #[serde(default, rename = "where", skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<PropertyFilter>,
    /// The rolling window, in hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_hours: Option<u32>,
}

/// A property of an event: its name, or a dotted path into nested objects.
pub fn property<'a>(properties: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = properties.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut at = properties.get(parts.next()?)?;
    for part in parts {
        at = at.as_object()?.get(part)?;
    }
    Some(at)
}

impl Aggregation {
    /// A name for the aggregation that depends only on what it computes, so two
    /// definitions asking for the same figure share one state.
    pub fn key(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("an aggregation serializes");
        let digest = Sha256::digest(&canonical);
        format!("agg_{}", hex::encode(&digest[..10]))
    }

    fn window(&self) -> Option<TimeDelta> {
        self.window_hours
            .map(|h| TimeDelta::hours(i64::from(h.max(1))))
    }

    /// The value the event contributes, if it counts at all: `Null` for aggregations that
    /// only count.
    /// Filters relative to the present ("within the last 7 days") are taken relative to
    /// the event's time `at`, so that whether an event counts never changes later.
    pub fn input(
        &self,
        name: Option<&str>,
        properties: &Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Option<Value> {
        if name != Some(self.event.as_str()) {
            return None;
        }
        let passes = self
            .filters
            .iter()
            .all(|f| compare(f.op, property(properties, &f.property), &f.value, at));
        if !passes {
            return None;
        }
        if !self.kind.needs_property() {
            return Some(Value::Null);
        }
        let value = property(properties, self.property.as_deref()?)?;
        if self.kind.numeric_input() {
            number_of(value).map(|n| json!(n))
        } else if value.is_null() {
            None
        } else {
            Some(value.clone())
        }
    }
}

/// One event that counted: when, its place in the log, what it contributed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    pub seq: i64,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

impl Entry {
    fn number(&self) -> f64 {
        self.value.as_f64().unwrap_or(0.0)
    }
}

/// A profile's state of one aggregation. Without a window it holds running figures; with
/// one, the events inside it, since figures cannot be taken back as events leave it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AggState {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entries: Vec<Entry>,
    #[serde(default)]
    n: i64,
    #[serde(default)]
    sum: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first: Option<Entry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<Entry>,
    /// Values (as JSON text) and how often each came.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    seen: BTreeMap<String, i64>,
}

/// A sum that stays finite (JSON cannot hold infinity, so a state holding one could not
/// be read back): past the largest number it stays there.
fn add(a: f64, b: f64) -> f64 {
    let sum = a + b;
    if sum.is_finite() {
        sum
    } else {
        f64::MAX.copysign(sum)
    }
}

fn earlier(a: &Entry, b: &Entry) -> bool {
    (a.at, a.seq) < (b.at, b.seq)
}

impl AggState {
    /// Takes in one event's contribution.
    pub fn fold(&mut self, agg: &Aggregation, entry: Entry) {
        if agg.window().is_some() {
            self.keep(entry);
        } else {
            self.take(agg.kind, &entry);
        }
    }

    /// Keeps an event of a window, in order of time.
    fn keep(&mut self, entry: Entry) {
        let at = self
            .entries
            .partition_point(|e| (e.at, e.seq) < (entry.at, entry.seq));
        if self.entries.get(at) != Some(&entry) {
            self.entries.insert(at, entry);
        }
        if self.entries.len() > MAX_WINDOW_ENTRIES {
            self.entries.remove(0);
        }
    }

    /// Running figures: the part of the state that needs no memory of single events.
    fn take(&mut self, kind: AggKind, entry: &Entry) {
        self.n += 1;
        if kind.numeric_input() {
            let x = entry.number();
            self.sum = add(self.sum, x);
            self.min = Some(self.min.map_or(x, |m| m.min(x)));
            self.max = Some(self.max.map_or(x, |m| m.max(x)));
        }
        if self.first.as_ref().is_none_or(|f| earlier(entry, f)) {
            self.first = Some(entry.clone());
        }
        if self.last.as_ref().is_none_or(|l| earlier(l, entry)) {
            self.last = Some(entry.clone());
        }
        if matches!(
            kind,
            AggKind::MostFrequent | AggKind::DistinctCount | AggKind::DistinctList
        ) {
            let text = entry.value.to_string();
            if let Some(n) = self.seen.get_mut(&text) {
                *n += 1;
            } else if self.seen.len() < MAX_DISTINCT_VALUES {
                self.seen.insert(text, 1);
            }
        }
    }

    /// Takes in the state of a profile merged into this one. (A window's state holds only
    /// events and a running state only figures, so both parts simply add up.)
    pub fn absorb(&mut self, other: AggState) {
        for entry in other.entries {
            self.keep(entry);
        }
        self.n += other.n;
        self.sum = add(self.sum, other.sum);
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if let Some(f) = other.first
            && self.first.as_ref().is_none_or(|mine| earlier(&f, mine))
        {
            self.first = Some(f);
        }
        if let Some(l) = other.last
            && self.last.as_ref().is_none_or(|mine| earlier(mine, &l))
        {
            self.last = Some(l);
        }
        for (value, n) in other.seen {
            if let Some(mine) = self.seen.get_mut(&value) {
                *mine += n;
            } else if self.seen.len() < MAX_DISTINCT_VALUES {
                self.seen.insert(value, n);
            }
        }
    }

    /// Drops events that have left the window by `now`; whether any did.
    pub fn expire(&mut self, agg: &Aggregation, now: DateTime<Utc>) -> bool {
        let Some(window) = agg.window() else {
            return false;
        };
        let gone = self.entries.partition_point(|e| e.at + window <= now);
        self.entries.drain(..gone);
        gone > 0
    }

    /// The running figures at `now`: the state's own, or for a window those of the
    /// events still inside it.
    fn figures(&self, agg: &Aggregation, now: DateTime<Utc>) -> std::borrow::Cow<'_, AggState> {
        let Some(window) = agg.window() else {
            return std::borrow::Cow::Borrowed(self);
        };
        let mut figures = AggState::default();
        for e in self.entries.iter().filter(|e| e.at + window > now) {
            figures.take(agg.kind, e);
        }
        std::borrow::Cow::Owned(figures)
    }

    /// The aggregation's value at `now`; `Null` when no event counted.
    pub fn value(&self, agg: &Aggregation, now: DateTime<Utc>) -> Value {
        let f = self.figures(agg, now);
        if f.n == 0 {
            return match agg.kind {
                AggKind::Count | AggKind::Sum | AggKind::DistinctCount => json!(0),
                AggKind::DistinctList => json!([]),
                _ => Value::Null,
            };
        }
        match agg.kind {
            AggKind::Count => json!(f.n),
            AggKind::Sum => json!(f.sum),
            AggKind::Avg => json!(f.sum / f.n as f64),
            AggKind::Min => json!(f.min),
            AggKind::Max => json!(f.max),
            AggKind::First => f.first.as_ref().map_or(Value::Null, |e| e.value.clone()),
            AggKind::Last => f.last.as_ref().map_or(Value::Null, |e| e.value.clone()),
            AggKind::MostFrequent => f
                .seen
                .iter()
                // The most frequent; of equals, the first in order.
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .and_then(|(text, _)| serde_json::from_str(text).ok())
                .unwrap_or(Value::Null),
            AggKind::DistinctCount => json!(f.seen.len()),
            AggKind::DistinctList => Value::Array(
                f.seen
                    .keys()
                    .filter_map(|t| serde_json::from_str(t).ok())
                    .collect(),
            ),
            AggKind::DaysSinceLast => f
                .last
                .as_ref()
                .map_or(Value::Null, |l| json!(days_since(l.at, now))),
            AggKind::Rfm => {
                let recency = f.last.as_ref().map_or(i64::MAX, |l| days_since(l.at, now));
                json!(rfm_score(recency, f.n, f.sum))
            }
        }
    }

    /// The next moment after `now` at which the value changes without a new event: an
    /// event leaving the window, or another day passing since the last one.
    pub fn changes_at(&self, agg: &Aggregation, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if let Some(window) = agg.window() {
            return self
                .entries
                .iter()
                .map(|e| e.at + window)
                .find(|leaves| *leaves > now);
        }
        if matches!(agg.kind, AggKind::DaysSinceLast | AggKind::Rfm) {
            let last = self.last.as_ref()?.at;
            let days = days_since(last, now).max(0);
            return Some(last + TimeDelta::days(days + 1));
        }
        None
    }
}

fn days_since(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - at).num_days()
}

/// Fixed thresholds, so a score means the same for every profile and every day: recency
/// in days, frequency in orders, monetary in the currency of the events.
fn rfm_score(recency_days: i64, orders: i64, spent: f64) -> String {
    let band = |x: f64, bounds: [f64; 4]| 1 + bounds.iter().filter(|b| x >= **b).count();
    let r = 6 - band(recency_days as f64, [8.0, 31.0, 91.0, 181.0]);
    let f = band(orders as f64, [2.0, 3.0, 5.0, 10.0]);
    let m = band(spent, [50.0, 200.0, 500.0, 1000.0]);
    format!("{r}{f}{m}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::hours(hours)
    }

    fn agg(kind: AggKind, window_hours: Option<u32>) -> Aggregation {
        Aggregation {
            kind,
            event: "Order Completed".into(),
            property: kind.needs_property().then(|| "total".into()),
            filters: vec![],
            window_hours,
        }
    }

    fn entry(hours: i64, seq: i64, value: Value) -> Entry {
        Entry {
            at: at(hours),
            seq,
            value,
        }
    }

    #[test]
    fn running_figures() {
        let now = at(100);
        let cases = [
            (AggKind::Count, json!(3)),
            (AggKind::Sum, json!(60.0)),
            (AggKind::Avg, json!(20.0)),
            (AggKind::Min, json!(10.0)),
            (AggKind::Max, json!(30.0)),
            (AggKind::First, json!(10.0)),
            (AggKind::Last, json!(30.0)),
            (AggKind::DaysSinceLast, json!(3)),
        ];
        for (kind, expected) in cases {
            let a = agg(kind, None);
            let mut s = AggState::default();
            for (h, seq, v) in [(5, 2, 20.0), (1, 1, 10.0), (20, 3, 30.0)] {
                // Out of order on purpose: folding does not depend on it.
                s.fold(&a, entry(h, seq, json!(v)));
            }
            assert_eq!(s.value(&a, now), expected, "{kind:?}");
        }
    }

    #[test]
    fn distinct_and_most_frequent() {
        let mut s = AggState::default();
        let a = agg(AggKind::MostFrequent, None);
        for (i, v) in ["red", "blue", "red", "green"].iter().enumerate() {
            s.fold(&a, entry(i as i64, i as i64, json!(v)));
        }
        assert_eq!(s.value(&a, at(10)), json!("red"));
        let list = Aggregation {
            kind: AggKind::DistinctList,
            ..a.clone()
        };
        assert_eq!(s.value(&list, at(10)), json!(["blue", "green", "red"]));
        let count = Aggregation {
            kind: AggKind::DistinctCount,
            ..a
        };
        assert_eq!(s.value(&count, at(10)), json!(3));
    }

    #[test]
    fn a_window_forgets_events_as_time_passes() {
        let a = agg(AggKind::Count, Some(24));
        let mut s = AggState::default();
        s.fold(&a, entry(0, 1, Value::Null));
        s.fold(&a, entry(10, 2, Value::Null));
        assert_eq!(s.value(&a, at(12)), json!(2));
        let first_leaves = s.changes_at(&a, at(12)).unwrap();
        assert_eq!(first_leaves, at(24));
        assert_eq!(s.value(&a, first_leaves), json!(1));
        assert_eq!(s.value(&a, at(34)), json!(0));
        assert!(s.expire(&a, at(34)));
        assert_eq!(s, AggState::default());
    }

    #[test]
    fn merging_two_states_equals_folding_every_event_into_one() {
        for kind in AggKind::ALL {
            for window in [None, Some(48)] {
                let a = agg(kind, window);
                let events: Vec<Entry> = (0..8)
                    .map(|i| entry(i * 5, i, json!((i * 7 % 5) as f64)))
                    .collect();
                let mut whole = AggState::default();
                let (mut left, mut right) = (AggState::default(), AggState::default());
                for (i, e) in events.iter().enumerate() {
                    whole.fold(&a, e.clone());
                    if i % 3 == 0 {
                        left.fold(&a, e.clone());
                    } else {
                        right.fold(&a, e.clone());
                    }
                }
                left.absorb(right);
                for now in [at(36), at(60)] {
                    assert_eq!(
                        left.value(&a, now),
                        whole.value(&a, now),
                        "{kind:?} {window:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn inputs_pass_filters_and_read_nested_properties() {
        let a = Aggregation {
            kind: AggKind::Sum,
            event: "Order Completed".into(),
            property: Some("order.total".into()),
            filters: vec![PropertyFilter {
                property: "currency".into(),
                op: Op::Eq,
                value: json!("EUR"),
            }],
            window_hours: None,
        };
        let props = |currency: &str| {
            json!({"currency": currency, "order": {"total": "19.5"}})
                .as_object()
                .unwrap()
                .clone()
        };
        assert_eq!(
            a.input(Some("Order Completed"), &props("EUR"), at(0)),
            Some(json!(19.5))
        );
        assert_eq!(a.input(Some("Order Completed"), &props("USD"), at(0)), None);
        assert_eq!(a.input(Some("Page Viewed"), &props("EUR"), at(0)), None);
    }

    #[test]
    fn huge_values_keep_the_state_readable() {
        let a = agg(AggKind::Sum, None);
        let mut s = AggState::default();
        s.fold(&a, entry(0, 1, json!(1e308)));
        s.fold(&a, entry(1, 2, json!(1e308)));
        let text = serde_json::to_string(&s).unwrap();
        let back: AggState = serde_json::from_str(&text).unwrap();
        assert_eq!(back.value(&a, at(2)), json!(f64::MAX));
    }

    #[test]
    fn rfm_scores_use_fixed_bands() {
        assert_eq!(rfm_score(0, 12, 1500.0), "555");
        assert_eq!(rfm_score(400, 1, 10.0), "111");
        assert_eq!(rfm_score(20, 3, 250.0), "433");
    }

    #[test]
    fn keys_name_what_is_computed() {
        let a = agg(AggKind::Sum, None);
        assert_eq!(a.key(), a.clone().key());
        assert_ne!(a.key(), agg(AggKind::Sum, Some(24)).key());
    }
}
