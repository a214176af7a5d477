//! One unified profile, and how events and merges change it.

use std::collections::BTreeMap;

use cdp_domain::ProfileId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Observation;
use crate::aggregate::{AggState, Aggregations, Entry};

/// When an identity was first and last seen on the profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct IdentitySeen {
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// A trait's value, with where and when it was last set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraitValue {
    pub value: Value,
    pub source: Option<String>,
    pub at: DateTime<Utc>,
    /// The log position of the event that set it, to order events of the same time.
    pub seq: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EventCount {
    pub count: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupLink {
    pub traits: Map<String, Value>,
    pub at: DateTime<Utc>,
    pub seq: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub granted: bool,
    pub at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub seq: i64,
}

impl Consent {
    /// Granted and not expired at `now`.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.granted && self.expires_at.is_none_or(|until| now < until)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    pub id: ProfileId,
    /// The log position of the event that created it: the older profile wins a merge.
    pub created_seq: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub identities: BTreeMap<(String, String), IdentitySeen>,
    pub traits: BTreeMap<String, TraitValue>,
    pub counts: BTreeMap<String, EventCount>,
    pub groups: BTreeMap<String, GroupLink>,
    pub consent: BTreeMap<String, Consent>,
    /// The state of every aggregation of the tenant (computed traits, event conditions),
    /// by aggregation key. (Shown through the computed traits' values, not as states.)
    #[serde(skip)]
    pub aggregates: BTreeMap<String, AggState>,
}

/// Whether `(at, seq)` is newer than what `(old_at, old_seq)` recorded.
fn newer(at: DateTime<Utc>, seq: i64, old_at: DateTime<Utc>, old_seq: i64) -> bool {
    (at, seq) > (old_at, old_seq)
}

impl Profile {
    /// Whether the person consents to `purpose` at `now`: granted and not expired. No
    /// record means no consent: what needs consent is withheld until it is given.
    pub fn consents_to(&self, purpose: &str, now: DateTime<Utc>) -> bool {
        self.consent
            .get(&purpose.to_lowercase())
            .is_some_and(|c| c.holds_at(now))
    }

    pub fn new(id: ProfileId, created_seq: i64, at: DateTime<Utc>) -> Profile {
        Profile {
            id,
            created_seq,
            first_seen: at,
            last_seen: at,
            identities: BTreeMap::new(),
            traits: BTreeMap::new(),
            counts: BTreeMap::new(),
            groups: BTreeMap::new(),
            consent: BTreeMap::new(),
            aggregates: BTreeMap::new(),
        }
    }

    /// Folds the event into every aggregation it counts for.
    pub fn fold(&mut self, aggregations: &Aggregations, o: &Observation) {
        for (key, agg) in aggregations.iter() {
            if let Some(value) = agg.input(o.counted_as.as_deref(), &o.properties, o.at) {
                let entry = Entry {
                    at: o.at,
                    seq: o.seq,
                    value,
                };
                self.aggregates
                    .entry(key.clone())
                    .or_default()
                    .fold(agg, entry);
            }
        }
    }

    /// Drops what has left the aggregations' windows by `now`; whether anything did.
    pub fn expire(&mut self, aggregations: &Aggregations, now: DateTime<Utc>) -> bool {
        let mut changed = false;
        self.aggregates
            .retain(|key, state| match aggregations.get(key) {
                Some(agg) => {
                    changed |= state.expire(agg, now);
                    *state != AggState::default()
                }
                // An aggregation no longer defined.
                None => {
                    changed = true;
                    false
                }
            });
        changed
    }

    pub fn count_of(&self, kind: &str) -> usize {
        self.identities.keys().filter(|(k, _)| k == kind).count()
    }

    pub(crate) fn see(&mut self, kind: &str, value: &str, at: DateTime<Utc>) {
        let seen = self
            .identities
            .entry((kind.to_owned(), value.to_owned()))
            .or_insert(IdentitySeen {
                first_seen: at,
                last_seen: at,
            });
        seen.first_seen = seen.first_seen.min(at);
        seen.last_seen = seen.last_seen.max(at);
    }

    /// Applies an event: times, traits (the latest event wins each one), counts, group,
    /// consent.
    pub fn apply(&mut self, o: &Observation) {
        // Consent recorded by staff is not the person being seen.
        if o.event_type != crate::CONSENT_EVENT_TYPE {
            self.first_seen = self.first_seen.min(o.at);
            self.last_seen = self.last_seen.max(o.at);
        }
        for (name, value) in &o.traits {
            self.set_trait(name, value.clone(), o.source.clone(), o.at, o.seq);
        }
        if let Some(name) = &o.counted_as {
            let count = self.counts.entry(name.clone()).or_insert(EventCount {
                count: 0,
                first_at: o.at,
                last_at: o.at,
            });
            count.count += 1;
            count.first_at = count.first_at.min(o.at);
            count.last_at = count.last_at.max(o.at);
        }
        if let Some((group, traits)) = &o.group {
            let link = self.groups.entry(group.clone()).or_insert(GroupLink {
                traits: Map::new(),
                at: o.at,
                seq: o.seq,
            });
            if newer(o.at, o.seq, link.at, link.seq) || link.traits.is_empty() {
                link.traits.extend(traits.clone());
                link.at = link.at.max(o.at);
                link.seq = link.seq.max(o.seq);
            } else {
                // An older event only fills in what newer ones did not say.
                for (k, v) in traits {
                    link.traits.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        for (purpose, granted, expires_at) in &o.consent {
            self.set_consent(
                purpose,
                Consent {
                    granted: *granted,
                    at: o.at,
                    expires_at: *expires_at,
                    seq: o.seq,
                },
            );
        }
    }

    fn set_trait(
        &mut self,
        name: &str,
        value: Value,
        source: Option<String>,
        at: DateTime<Utc>,
        seq: i64,
    ) {
        match self.traits.get(name) {
            Some(old) if !newer(at, seq, old.at, old.seq) => {}
            _ => {
                self.traits.insert(
                    name.to_owned(),
                    TraitValue {
                        value,
                        source,
                        at,
                        seq,
                    },
                );
            }
        }
    }

    fn set_consent(&mut self, purpose: &str, consent: Consent) {
        match self.consent.get(purpose) {
            Some(old) if !newer(consent.at, consent.seq, old.at, old.seq) => {}
            _ => {
                self.consent.insert(purpose.to_owned(), consent);
            }
        }
    }

    /// Takes in everything of a profile being merged into this one.
    pub fn absorb(&mut self, other: Profile) {
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        for ((kind, value), seen) in other.identities {
            let mine = self.identities.entry((kind, value)).or_insert(seen);
            mine.first_seen = mine.first_seen.min(seen.first_seen);
            mine.last_seen = mine.last_seen.max(seen.last_seen);
        }
        for (name, t) in other.traits {
            self.set_trait(&name, t.value, t.source, t.at, t.seq);
        }
        for (name, c) in other.counts {
            let mine = self.counts.entry(name).or_insert(EventCount {
                count: 0,
                first_at: c.first_at,
                last_at: c.last_at,
            });
            mine.count += c.count;
            mine.first_at = mine.first_at.min(c.first_at);
            mine.last_at = mine.last_at.max(c.last_at);
        }
        for (group, link) in other.groups {
            match self.groups.get_mut(&group) {
                None => {
                    self.groups.insert(group, link);
                }
                Some(mine) => {
                    let (newer_link, older_link) = if newer(link.at, link.seq, mine.at, mine.seq) {
                        (link, mine.clone())
                    } else {
                        (mine.clone(), link)
                    };
                    let mut traits = older_link.traits;
                    traits.extend(newer_link.traits);
                    *mine = GroupLink {
                        traits,
                        at: newer_link.at,
                        seq: newer_link.seq,
                    };
                }
            }
        }
        for (purpose, consent) in other.consent {
            self.set_consent(&purpose, consent);
        }
        for (key, state) in other.aggregates {
            self.aggregates.entry(key).or_default().absorb(state);
        }
    }
}
