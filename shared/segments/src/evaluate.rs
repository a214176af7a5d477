//! A tenant's computed traits and segments compiled for evaluation over single profiles.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cdp_profiles::compare::{Op, changes_at, compare};
use cdp_profiles::{AggKind, Aggregation, Aggregations, Profile};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::condition::{Comparison, Condition, Performed, Times};
use crate::definition::ComputedTrait;

/// A saved segment: its id and condition.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentDef {
    pub id: String,
    pub condition: Condition,
}

enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Trait(Comparison),
    Computed(String, Comparison),
    /// Compared against the profile's count of events of the name.
    Counted(String, Times),
    /// Compared against the count of an aggregation.
    Aggregated(String, Times),
    InSegment(String),
    Consent(String),
    /// A computed trait that does not exist (any more): never true.
    Missing,
}

/// The parts of a profile that evaluating segments reads beside its aggregation states,
/// so that a pass over many profiles (a backfill) loads no more than that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    pub traits: bool,
    pub counts: bool,
    pub consent: bool,
}

impl Node {
    fn reads(&self, r: &mut Reads) {
        match self {
            Node::All(items) | Node::Any(items) => items.iter().for_each(|i| i.reads(r)),
            Node::Not(inner) => inner.reads(r),
            Node::Trait(_) => r.traits = true,
            Node::Counted(..) => r.counts = true,
            Node::Consent(_) => r.consent = true,
            Node::Computed(..) | Node::Aggregated(..) | Node::InSegment(_) | Node::Missing => {}
        }
    }
}

/// What a profile's evaluation found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evaluation {
    /// The segments the profile is a member of.
    pub members: BTreeSet<String>,
    /// When the answer may change without a new event (a window, a relative date, an
    /// expiring consent), for re-evaluating then.
    pub changes_at: Option<DateTime<Utc>>,
}

/// A tenant's definitions, ready to evaluate. Built for the aggregations one generation of
/// profiles keeps: segments needing others are left out until a rebuild has computed them
/// over the whole log.
pub struct Audiences {
    aggregations: Aggregations,
    computed: BTreeMap<String, String>,
    /// Every computed trait defined, kept or not.
    defined: BTreeSet<String>,
    segments: Vec<(String, Node)>,
    pending: BTreeSet<String>,
}

/// Event conditions without filters or a window read the counts every profile keeps;
/// the others need an aggregation of their own.
fn aggregation_of(p: &Performed) -> Option<Aggregation> {
    if p.filters.is_empty() && p.within.is_none() {
        return None;
    }
    Some(Aggregation {
        kind: AggKind::Count,
        event: p.event.clone(),
        property: None,
        filters: p.filters.clone(),
        window_hours: p.within.map(|w| w.hours()),
    })
}

fn at_least_once() -> Times {
    Times {
        op: Op::Gte,
        value: 1,
    }
}

impl Audiences {
    /// Every aggregation the definitions need, by key.
    pub fn needed(
        computed: &[ComputedTrait],
        segments: &[SegmentDef],
    ) -> BTreeMap<String, Aggregation> {
        let mut all: BTreeMap<String, Aggregation> = computed
            .iter()
            .map(|c| (c.aggregation.key(), c.aggregation.clone()))
            .collect();
        for s in segments {
            s.condition.walk(&mut |c| {
                if let Condition::Performed(p) = c
                    && let Some(a) = aggregation_of(p)
                {
                    all.insert(a.key(), a);
                }
            });
        }
        all
    }

    /// Compiles the definitions for profiles that keep the aggregations `kept` (by key).
    pub fn new(
        computed: &[ComputedTrait],
        segments: &[SegmentDef],
        kept: &BTreeSet<String>,
    ) -> Audiences {
        let needed = Audiences::needed(computed, segments);
        let aggregations: BTreeMap<String, Aggregation> = needed
            .into_iter()
            .filter(|(key, _)| kept.contains(key))
            .collect();
        let defined = computed.iter().map(|c| c.name.clone()).collect();
        let computed: BTreeMap<String, String> = computed
            .iter()
            .map(|c| (c.name.clone(), c.aggregation.key()))
            .filter(|(_, key)| aggregations.contains_key(key))
            .collect();
        let mut audiences = Audiences {
            aggregations: Arc::new(aggregations),
            computed,
            defined,
            segments: Vec::new(),
            pending: BTreeSet::new(),
        };
        // Each segment after the ones it refers to; one that needs what is not kept (or
        // refers to such a one, or to a cycle) waits.
        let by_id: BTreeMap<&str, &SegmentDef> =
            segments.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut placed: BTreeSet<String> = BTreeSet::new();
        let mut remaining: Vec<&SegmentDef> = segments.iter().collect();
        loop {
            let before = remaining.len();
            remaining.retain(|s| {
                let refs_ready = s
                    .condition
                    .segments()
                    .iter()
                    .all(|id| placed.contains(*id) || !by_id.contains_key(id));
                if !refs_ready {
                    return true;
                }
                match audiences.compile(&s.condition) {
                    Some(node) => {
                        audiences.segments.push((s.id.clone(), node));
                        placed.insert(s.id.clone());
                    }
                    None => {
                        audiences.pending.insert(s.id.clone());
                    }
                }
                false
            });
            if remaining.len() == before {
                break;
            }
        }
        audiences
            .pending
            .extend(remaining.iter().map(|s| s.id.clone()));
        audiences
    }

    /// `None` when the condition needs an aggregation these profiles do not keep.
    fn compile(&self, c: &Condition) -> Option<Node> {
        Some(match c {
            Condition::And(items) => Node::All(
                items
                    .iter()
                    .map(|i| self.compile(i))
                    .collect::<Option<_>>()?,
            ),
            Condition::Or(items) => Node::Any(
                items
                    .iter()
                    .map(|i| self.compile(i))
                    .collect::<Option<_>>()?,
            ),
            Condition::Not(inner) => Node::Not(Box::new(self.compile(inner)?)),
            Condition::Trait(cmp) => Node::Trait(cmp.clone()),
            Condition::Computed(cmp) => match self.computed.get(&cmp.name) {
                Some(key) => Node::Computed(key.clone(), cmp.clone()),
                // Defined but not computed over the whole log yet (new or changed): the
                // segment waits rather than losing its members meanwhile.
                None if self.defined.contains(&cmp.name) => return None,
                None => Node::Missing,
            },
            Condition::Performed(p) => {
                let times = p.times.unwrap_or_else(at_least_once);
                match aggregation_of(p) {
                    None => Node::Counted(p.event.clone(), times),
                    Some(a) => {
                        let key = a.key();
                        if !self.aggregations.contains_key(&key) {
                            return None;
                        }
                        Node::Aggregated(key, times)
                    }
                }
            }
            Condition::InSegment(id) => Node::InSegment(id.clone()),
            Condition::Consent(purpose) => Node::Consent(purpose.clone()),
        })
    }

    /// The aggregations profiles must keep for these definitions.
    pub fn aggregations(&self) -> &Aggregations {
        &self.aggregations
    }

    /// Segments left out: what they need is not computed yet.
    pub fn pending(&self) -> &BTreeSet<String> {
        &self.pending
    }

    /// What evaluating the segments reads of a profile.
    pub fn reads(&self) -> Reads {
        let mut reads = Reads::default();
        self.segments
            .iter()
            .for_each(|(_, node)| node.reads(&mut reads));
        reads
    }

    pub fn has_segments(&self) -> bool {
        !self.segments.is_empty()
    }

    /// The value of every computed trait on the profile at `now`.
    pub fn computed_values(
        &self,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> BTreeMap<String, Value> {
        self.computed
            .iter()
            .map(|(name, key)| (name.clone(), self.value(profile, key, now)))
            .collect()
    }

    fn value(&self, profile: &Profile, key: &str, now: DateTime<Utc>) -> Value {
        let agg = &self.aggregations[key];
        match profile.aggregates.get(key) {
            Some(state) => state.value(agg, now),
            None => cdp_profiles::AggState::default().value(agg, now),
        }
    }

    /// The segments the profile belongs to at `now`.
    pub fn evaluate(&self, profile: &Profile, now: DateTime<Utc>) -> Evaluation {
        let mut e = Evaluation::default();
        for (id, node) in &self.segments {
            if self.holds(node, profile, now, &mut e) {
                e.members.insert(id.clone());
            }
        }
        e
    }

    /// Whether a condition not saved yet (a preview) holds for the profile; `None` when
    /// it needs an aggregation these profiles do not keep.
    pub fn check(
        &self,
        c: &Condition,
        profile: &Profile,
        now: DateTime<Utc>,
        members: &BTreeSet<String>,
    ) -> Option<bool> {
        let node = self.compile(c)?;
        let mut e = Evaluation {
            members: members.clone(),
            changes_at: None,
        };
        Some(self.holds(&node, profile, now, &mut e))
    }

    fn holds(&self, node: &Node, p: &Profile, now: DateTime<Utc>, e: &mut Evaluation) -> bool {
        let mut changes = |at: Option<DateTime<Utc>>| {
            if let Some(at) = at {
                e.changes_at = Some(e.changes_at.map_or(at, |t| t.min(at)));
            }
        };
        match node {
            // Every item is looked at (no short cut), so that `changes_at` sees them all.
            Node::All(items) => items
                .iter()
                .fold(true, |all, i| self.holds(i, p, now, e) & all),
            Node::Any(items) => items
                .iter()
                .fold(false, |any, i| self.holds(i, p, now, e) | any),
            Node::Not(inner) => !self.holds(inner, p, now, e),
            Node::Trait(cmp) => {
                let actual = trait_value(p, &cmp.name);
                changes(changes_at(cmp.op, actual, &cmp.value, now));
                compare(cmp.op, actual, &cmp.value, now)
            }
            Node::Computed(key, cmp) => {
                let value = self.value(p, key, now);
                if let Some(state) = p.aggregates.get(key) {
                    changes(state.changes_at(&self.aggregations[key], now));
                }
                changes(changes_at(cmp.op, Some(&value), &cmp.value, now));
                compare(cmp.op, Some(&value), &cmp.value, now)
            }
            Node::Counted(event, times) => {
                let n = p.counts.get(event).map_or(0, |c| c.count);
                compare(times.op, Some(&json!(n)), &json!(times.value), now)
            }
            Node::Aggregated(key, times) => {
                if let Some(state) = p.aggregates.get(key) {
                    changes(state.changes_at(&self.aggregations[key], now));
                }
                let n = self.value(p, key, now);
                compare(times.op, Some(&n), &json!(times.value), now)
            }
            Node::InSegment(id) => e.members.contains(id),
            Node::Consent(purpose) => {
                let consent = p.consent.get(purpose);
                changes(consent.and_then(|c| c.expires_at).filter(|at| *at > now));
                p.consents_to(purpose, now)
            }
            Node::Missing => false,
        }
    }
}

/// A trait by name, or by a dotted path into an object-valued trait.
fn trait_value<'a>(p: &'a Profile, name: &str) -> Option<&'a Value> {
    if let Some(t) = p.traits.get(name) {
        return Some(&t.value);
    }
    let (head, rest) = name.split_once('.')?;
    let object = p.traits.get(head)?.value.as_object()?;
    cdp_profiles::property(object, rest)
}
