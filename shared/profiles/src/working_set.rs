//! Identity resolution over the profiles a batch of events touches.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cdp_domain::{ProfileId, TenantId};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::{Aggregations, Ident, IdentityRules, Observation, Profile};

/// A merge the projection decided: `loser` now lives on as part of `winner`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merge {
    pub winner: ProfileId,
    pub loser: ProfileId,
    /// The event that joined them.
    pub trigger_seq: i64,
    /// The identities that moved.
    pub identities: Vec<Ident>,
}

/// Which profile an event belongs to, for the profile's timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineEntry {
    pub profile: ProfileId,
    pub seq: i64,
    pub event_type: String,
    pub event_name: Option<String>,
    pub at: DateTime<Utc>,
}

/// A profile id that depends only on the tenant and the event that created the profile, so
/// incremental processing and a rebuild name profiles alike.
///
/// Ids sort in the order profiles were created (the creating event's position comes first),
/// so new profiles are added at the end of every index keyed by profile instead of at a
/// random place in it: far fewer pages written per batch. The rest is a hash, so ids of
/// different tenants differ.
pub fn profile_id_for(tenant: TenantId, seq: i64, n: u32) -> ProfileId {
    let digest = Sha256::new()
        .chain_update(b"cdp.profile.v1")
        .chain_update(tenant.as_bytes())
        .chain_update(seq.to_be_bytes())
        .chain_update(n.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    // 48 bits of position (280 trillion events), 16 of the profile's number within the
    // event (an event creates at most a few), then the hash. `new_v8` writes the version
    // over the top of the number's high byte (always zero) and the variant over the hash.
    bytes[..6].copy_from_slice(&seq.to_be_bytes()[2..]);
    bytes[6..8].copy_from_slice(&(n as u16).to_be_bytes());
    bytes[8..].copy_from_slice(&digest[..8]);
    ProfileId::from_uuid(uuid::Uuid::new_v8(bytes))
}

/// The profiles one batch of events may touch, loaded beforehand by whoever stores them,
/// with the changes the batch makes recorded for writing back.
pub struct WorkingSet {
    tenant: TenantId,
    rules: IdentityRules,
    aggregations: Aggregations,
    profiles: BTreeMap<ProfileId, Profile>,
    /// The profiles as loaded, so that only what the batch changed is written back.
    loaded: BTreeMap<ProfileId, Profile>,
    owner: HashMap<(String, String), ProfileId>,
    /// Profiles changed by the batch (to write back).
    dirty: BTreeSet<ProfileId>,
    /// Profiles merged away by the batch, and where they went.
    retired: BTreeMap<ProfileId, ProfileId>,
    pub merges: Vec<Merge>,
    pub timeline: Vec<TimelineEntry>,
    /// Events that named nobody usable (every identifier blocked or absent).
    pub unattributed: u64,
}

impl WorkingSet {
    /// `loaded` must hold every profile owning any identity the batch's events name.
    pub fn new(tenant: TenantId, rules: IdentityRules, loaded: Vec<Profile>) -> WorkingSet {
        let mut owner = HashMap::new();
        let mut profiles = BTreeMap::new();
        for profile in loaded {
            for key in profile.identities.keys() {
                owner.insert(key.clone(), profile.id);
            }
            profiles.insert(profile.id, profile);
        }
        let loaded = profiles.clone();
        WorkingSet {
            tenant,
            rules,
            aggregations: Aggregations::default(),
            profiles,
            loaded,
            owner,
            dirty: BTreeSet::new(),
            retired: BTreeMap::new(),
            merges: Vec::new(),
            timeline: Vec::new(),
            unattributed: 0,
        }
    }

    /// Keeps these aggregations up to date on every profile events are applied to.
    pub fn with_aggregations(mut self, aggregations: Aggregations) -> WorkingSet {
        self.aggregations = aggregations;
        self
    }

    pub fn rules(&self) -> &IdentityRules {
        &self.rules
    }

    /// The identities an observation names, as the working set resolves them (an alias's
    /// previous id becomes the user id or anonymous id it is known as).
    pub fn identities_of(&self, o: &Observation) -> Vec<Ident> {
        let mut identities = o.identities.clone();
        if let Some(previous) = &o.previous_id {
            let kind = if self
                .owner
                .contains_key(&("user_id".to_owned(), previous.clone()))
            {
                "user_id"
            } else {
                "anonymous_id"
            };
            identities.push(Ident {
                kind: kind.to_owned(),
                value: previous.clone(),
            });
        }
        identities
    }

    /// Resolves the observation to one profile — joining, creating or merging profiles as
    /// the rules allow — and applies it there. `None` when it names nobody.
    pub fn apply(&mut self, o: &Observation) -> Option<ProfileId> {
        let mut identities = self.identities_of(o);
        // Strongest first; types that never join come last, in a stable order.
        identities.sort_by_key(|i| {
            (
                self.rules.priority(&i.kind).unwrap_or(usize::MAX),
                i.clone(),
            )
        });
        identities.dedup();
        let joining: Vec<&Ident> = identities
            .iter()
            .filter(|i| self.rules.priority(&i.kind).is_some())
            .collect();
        let Some(strongest) = joining.first().copied() else {
            self.unattributed += 1;
            return None;
        };

        // The profile the event belongs to: the first profile among its identities' that
        // can take its strongest identity; otherwise a new one.
        let mut target = joining
            .iter()
            .filter_map(|i| self.owner_of(i))
            .find(|p| self.accepts(*p, strongest));
        if target.is_none() {
            let id = profile_id_for(self.tenant, o.seq, 0);
            self.profiles.insert(id, Profile::new(id, o.seq, o.at));
            target = Some(id);
        }
        let mut target = target.expect("a target profile was chosen");

        for ident in &joining {
            match self.owner_of(ident) {
                Some(p) if p == target => {}
                Some(other) => {
                    if self.can_merge(target, other) {
                        target = self.merge(target, other, o.seq);
                    }
                }
                None => {
                    if self.accepts(target, ident) {
                        self.attach(target, ident, o.at);
                    }
                }
            }
        }
        // Identities that never join profiles stay with the first profile that saw them.
        let loose: Vec<Ident> = identities
            .iter()
            .filter(|i| self.rules.priority(&i.kind).is_none() && self.owner_of(i).is_none())
            .cloned()
            .collect();
        for ident in &loose {
            self.attach(target, ident, o.at);
        }
        let profile = self
            .profiles
            .get_mut(&target)
            .expect("the target is loaded");
        for ident in &identities {
            if profile
                .identities
                .contains_key(&(ident.kind.clone(), ident.value.clone()))
            {
                profile.see(&ident.kind, &ident.value, o.at);
            }
        }
        profile.apply(o);
        profile.fold(&self.aggregations, o);
        self.dirty.insert(target);
        self.timeline.push(TimelineEntry {
            profile: target,
            seq: o.seq,
            event_type: o.event_type.clone(),
            event_name: o.counted_as.clone(),
            at: o.at,
        });
        Some(target)
    }

    fn owner_of(&self, ident: &Ident) -> Option<ProfileId> {
        self.owner
            .get(&(ident.kind.clone(), ident.value.clone()))
            .copied()
    }

    /// Whether the profile holds this identity already or may take one more of its type.
    fn accepts(&self, profile: ProfileId, ident: &Ident) -> bool {
        let p = &self.profiles[&profile];
        if p.identities
            .contains_key(&(ident.kind.clone(), ident.value.clone()))
        {
            return true;
        }
        self.rules
            .limit(&ident.kind)
            .is_none_or(|limit| p.count_of(&ident.kind) < limit as usize)
    }

    /// Whether two profiles may become one without exceeding any limit.
    fn can_merge(&self, a: ProfileId, b: ProfileId) -> bool {
        let (a, b) = (&self.profiles[&a], &self.profiles[&b]);
        self.rules
            .limits
            .iter()
            .all(|(kind, limit)| a.count_of(kind) + b.count_of(kind) <= *limit as usize)
    }

    fn attach(&mut self, profile: ProfileId, ident: &Ident, at: DateTime<Utc>) {
        self.profiles
            .get_mut(&profile)
            .expect("attached to a loaded profile")
            .see(&ident.kind, &ident.value, at);
        self.owner
            .insert((ident.kind.clone(), ident.value.clone()), profile);
        self.dirty.insert(profile);
    }

    /// Merges two profiles; the older one (created earlier in the log) survives.
    fn merge(&mut self, a: ProfileId, b: ProfileId, trigger_seq: i64) -> ProfileId {
        let (winner, loser) = {
            let (pa, pb) = (&self.profiles[&a], &self.profiles[&b]);
            if (pa.created_seq, pa.id) <= (pb.created_seq, pb.id) {
                (a, b)
            } else {
                (b, a)
            }
        };
        let gone = self.profiles.remove(&loser).expect("the loser is loaded");
        let moved: Vec<Ident> = gone
            .identities
            .keys()
            .map(|(kind, value)| Ident {
                kind: kind.clone(),
                value: value.clone(),
            })
            .collect();
        for ident in &moved {
            self.owner
                .insert((ident.kind.clone(), ident.value.clone()), winner);
        }
        self.profiles
            .get_mut(&winner)
            .expect("the winner is loaded")
            .absorb(gone);
        for entry in &mut self.timeline {
            if entry.profile == loser {
                entry.profile = winner;
            }
        }
        for target in self.retired.values_mut() {
            if *target == loser {
                *target = winner;
            }
        }
        self.dirty.remove(&loser);
        self.dirty.insert(winner);
        self.retired.insert(loser, winner);
        self.merges.push(Merge {
            winner,
            loser,
            trigger_seq,
            identities: moved,
        });
        winner
    }

    /// The profiles to write back.
    pub fn changed(&self) -> impl Iterator<Item = &Profile> {
        self.dirty.iter().filter_map(|id| self.profiles.get(id))
    }

    /// Profiles merged away in this batch, each with the profile it now lives in.
    pub fn retired(&self) -> &BTreeMap<ProfileId, ProfileId> {
        &self.retired
    }

    /// Every live profile of the set, as the batch leaves it (loaded or new, changed or
    /// not; merged-away ones are gone).
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// The live profiles, given up (once the batch is written).
    pub fn into_profiles(self) -> impl Iterator<Item = Profile> {
        self.profiles.into_values()
    }

    pub fn profile(&self, id: ProfileId) -> Option<&Profile> {
        self.profiles.get(&id)
    }

    /// A profile as it was loaded, before this batch; `None` for one the batch created.
    pub fn as_loaded(&self, id: ProfileId) -> Option<&Profile> {
        self.loaded.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_ids_sort_by_creation_and_differ_between_tenants() {
        let (a, b) = (TenantId::new(), TenantId::new());
        let ids: Vec<ProfileId> = [(1, 0), (1, 1), (2, 0), (300, 0), (1 << 40, 0)]
            .into_iter()
            .map(|(seq, n)| profile_id_for(a, seq, n))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(
            sorted, ids,
            "ids sort in the order their profiles were created"
        );
        assert_eq!(profile_id_for(a, 7, 0), profile_id_for(a, 7, 0));
        assert_ne!(profile_id_for(a, 7, 0), profile_id_for(b, 7, 0));
        assert_eq!(profile_id_for(a, 7, 0).as_uuid().get_version_num(), 8);
    }
}
