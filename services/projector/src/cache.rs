//! Profiles kept in memory between batches, so that a batch about people the projector
//! has just seen loads nothing from the database.
//!
//! Loading is most of a batch's cost: every profile an event touches comes back as rows of
//! six tables. Web and app traffic comes in sessions, so most events are about someone
//! seen a moment ago, whose profile the previous batch wrote.
//!
//! The cache must say exactly what the database says. It holds, per tenant and
//! generation, profiles as this process last committed them, and is trusted only while
//! nobody else can have written: the worker takes a tenant's cache out when it starts on
//! the tenant and puts it back only after batches that all committed; a failed batch
//! drops it. When the worker next starts, the cache is used only if the generation's
//! checkpoint is still the one it was left at, which it would not be had another process
//! (holding the lease in between) applied anything. Every other change to profile rows
//! (a rebuild switching generations, a deleted workspace) changes the generation or the
//! checkpoint too.
//!
//! Lookups are by identity value, of any type, as the database's are; so the cache keeps,
//! for a value, the complete list of live profiles owning it, or nothing. A list becomes
//! complete when a batch looked the value up (the database answered every owner, and the
//! batch saw every change to them); any profile dropped from the cache takes every list
//! naming one of its values with it.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;

use cdp_domain::{ProfileId, TenantId};
use cdp_profiles::{Profile, WorkingSet};
use lru::LruCache;
use parking_lot::Mutex;

/// The profiles of one generation of one tenant.
pub(crate) struct GenerationCache {
    /// The checkpoint the cached profiles are true at.
    valid_at: i64,
    profiles: LruCache<ProfileId, Profile>,
    owners: HashMap<String, Vec<ProfileId>>,
}

impl GenerationCache {
    fn new(capacity: NonZeroUsize, valid_at: i64) -> Self {
        Self {
            valid_at,
            profiles: LruCache::new(capacity),
            owners: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.profiles.len()
    }

    /// The cached profiles owning the given values, and the values the cache cannot
    /// answer for (to be looked up in the database).
    pub(crate) fn lookup(&mut self, values: Vec<String>) -> (Vec<Profile>, Vec<String>) {
        let mut ids: HashSet<ProfileId> = HashSet::new();
        let mut unknown = Vec::new();
        for value in values {
            match self.owners.get(&value) {
                Some(owners) if owners.iter().all(|id| self.profiles.contains(id)) => {
                    ids.extend(owners.iter().copied());
                }
                _ => unknown.push(value),
            }
        }
        // Taken out rather than copied: the batch hands them all back (see `committed`),
        // and a batch that fails drops the whole cache anyway.
        let profiles = ids
            .into_iter()
            .filter_map(|id| self.profiles.pop(&id))
            .collect();
        (profiles, unknown)
    }

    /// Takes in what a committed batch left: its live profiles, and the owners of every
    /// value it looked up. `checkpoint` is the position the batch committed.
    pub(crate) fn committed(&mut self, set: WorkingSet, looked_up: &[String], checkpoint: i64) {
        let retired: Vec<ProfileId> = set.retired().keys().copied().collect();
        for id in retired {
            if let Some(gone) = self.profiles.pop(&id) {
                self.forget_values_of(&gone);
            }
        }
        // Every owner of a looked-up value was loaded, so the set's live profiles are all
        // of its owners now.
        let mut owners: HashMap<String, Vec<ProfileId>> = HashMap::new();
        for profile in set.into_profiles() {
            for (_, value) in profile.identities.keys() {
                if looked_up.binary_search(value).is_ok() {
                    let list = owners.entry(value.clone()).or_default();
                    if !list.contains(&profile.id) {
                        list.push(profile.id);
                    }
                } else {
                    // A value this batch did not look up may have owners elsewhere that
                    // the batch never saw: not answerable from here.
                    self.owners.remove(value);
                }
            }
            let id = profile.id;
            if let Some((evicted_id, evicted)) = self.profiles.push(id, profile)
                && evicted_id != id
            {
                self.forget_values_of(&evicted);
            }
        }
        for value in looked_up {
            let list = owners.remove(value).unwrap_or_default();
            // Owners evicted above leave the value unanswerable.
            if list.iter().all(|id| self.profiles.contains(id)) {
                self.owners.insert(value.clone(), list);
            } else {
                self.owners.remove(value);
            }
        }
        self.valid_at = checkpoint;
    }

    fn forget_values_of(&mut self, profile: &Profile) {
        for (_, value) in profile.identities.keys() {
            self.owners.remove(value);
        }
    }
}

/// Every cached generation, within one budget of profiles for the whole process.
pub struct ProfileCaches {
    budget: usize,
    caches: Mutex<Caches>,
}

struct Caches {
    generations: LruCache<(TenantId, i64), GenerationCache>,
    /// Deleted workspaces: a worker still busy with one must not put its profiles back.
    forgotten: HashSet<TenantId>,
}

impl ProfileCaches {
    /// `budget` profiles at most, over all tenants; zero turns the cache off.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            caches: Mutex::new(Caches {
                generations: LruCache::unbounded(),
                forgotten: HashSet::new(),
            }),
        }
    }

    /// The generation's cache, taken out for one worker's use: the one left at
    /// `checkpoint`, or an empty one. `None` when caching is off.
    pub(crate) fn take(
        &self,
        tenant: TenantId,
        generation: i64,
        checkpoint: i64,
    ) -> Option<GenerationCache> {
        let capacity = NonZeroUsize::new(self.budget)?;
        match self.caches.lock().generations.pop(&(tenant, generation)) {
            Some(cache) if cache.valid_at == checkpoint => Some(cache),
            _ => Some(GenerationCache::new(capacity, checkpoint)),
        }
    }

    /// Drops every cached generation of a tenant, for good.
    pub(crate) fn forget_tenant(&self, tenant: TenantId) {
        let mut caches = self.caches.lock();
        caches.forgotten.insert(tenant);
        let doomed: Vec<(TenantId, i64)> = caches
            .generations
            .iter()
            .map(|(key, _)| *key)
            .filter(|(t, _)| *t == tenant)
            .collect();
        for key in doomed {
            caches.generations.pop(&key);
        }
    }

    /// Puts a cache back after batches that all committed; the least recently used
    /// generations go when the budget is exceeded.
    pub(crate) fn put_back(&self, tenant: TenantId, generation: i64, cache: GenerationCache) {
        let mut caches = self.caches.lock();
        if caches.forgotten.contains(&tenant) {
            return;
        }
        caches.generations.put((tenant, generation), cache);
        let mut total: usize = caches.generations.iter().map(|(_, c)| c.len()).sum();
        while total > self.budget && caches.generations.len() > 1 {
            match caches.generations.pop_lru() {
                Some((_, dropped)) => total -= dropped.len(),
                None => break,
            }
        }
    }
}
