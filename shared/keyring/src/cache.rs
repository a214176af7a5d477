//! A small bounded LRU map shared between tasks. Entries also expire after a time to live,
//! which bounds how long another process can keep using a key this one has shredded.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lru::LruCache;
use parking_lot::Mutex;

pub(crate) struct BoundedCache<K: Hash + Eq + Clone, V: Clone> {
    entries: Mutex<LruCache<K, (Instant, V)>>,
    ttl: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Hash + Eq + Clone, V: Clone> BoundedCache<K, V> {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("capacity is at least one");
        Self {
            entries: Mutex::new(LruCache::new(capacity)),
            ttl,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A live entry's value; an expired one is dropped.
    fn live(&self, entries: &mut LruCache<K, (Instant, V)>, key: &K, now: Instant) -> Option<V> {
        match entries.get(key) {
            Some((stored, value)) if now.duration_since(*stored) < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let found = self.live(&mut self.entries.lock(), key, Instant::now());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Several lookups under one lock: a request looks up a key per event, and taking
    /// the lock (which every request thread wants) once per event was a sixth of the
    /// ingest path's time.
    pub(crate) fn get_many<'a>(&self, keys: impl IntoIterator<Item = &'a K>) -> Vec<Option<V>>
    where
        K: 'a,
    {
        let now = Instant::now();
        let found: Vec<Option<V>> = {
            let mut entries = self.entries.lock();
            keys.into_iter()
                .map(|key| self.live(&mut entries, key, now))
                .collect()
        };
        let hits = found.iter().filter(|f| f.is_some()).count() as u64;
        self.hits.fetch_add(hits, Ordering::Relaxed);
        self.misses
            .fetch_add(found.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    pub(crate) fn put(&self, key: K, value: V) {
        self.entries.lock().put(key, (Instant::now(), value));
    }

    /// Puts `value` unless the live entry already there must stand (`keep` says so). Used so
    /// that a key read just before it was shredded can never replace its tombstone.
    pub(crate) fn put_unless(&self, key: K, value: V, keep: impl Fn(&V) -> bool) {
        let mut entries = self.entries.lock();
        if let Some((stored, existing)) = entries.peek(&key)
            && stored.elapsed() < self.ttl
            && keep(existing)
        {
            return;
        }
        entries.put(key, (Instant::now(), value));
    }

    pub(crate) fn remove(&self, key: &K) {
        self.entries.lock().pop(key);
    }

    /// Replaces the value of an entry that is there, leaving the rest (and the order of
    /// eviction) alone: marking many keys must not push out the ones in use.
    pub(crate) fn replace_present(&self, key: &K, value: V) {
        if let Some(entry) = self.entries.lock().peek_mut(key) {
            *entry = (Instant::now(), value);
        }
    }

    pub(crate) fn clear(&self) {
        self.entries.lock().clear();
    }

    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_beyond_capacity_and_counts_hits() {
        let cache = BoundedCache::new(2, Duration::from_secs(60));
        cache.put(1, "a");
        cache.put(2, "b");
        cache.put(3, "c");
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&3), Some("c"));
        assert_eq!(cache.counts(), (1, 1));
    }

    #[test]
    fn entries_expire() {
        let cache = BoundedCache::new(4, Duration::ZERO);
        cache.put(1, "a");
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn replacing_present_entries_adds_none_and_clearing_drops_all() {
        let cache = BoundedCache::new(2, Duration::from_secs(60));
        cache.put(1, "live");
        cache.replace_present(&1, "tombstone");
        cache.replace_present(&2, "tombstone");
        assert_eq!(cache.get(&1), Some("tombstone"));
        assert_eq!(cache.get(&2), None, "nothing added");
        cache.clear();
        assert_eq!(cache.get(&1), None);
    }

    #[test]
    fn put_unless_keeps_what_must_stand() {
        let cache = BoundedCache::new(4, Duration::from_secs(60));
        cache.put(1, "tombstone");
        cache.put_unless(1, "live", |v| *v == "tombstone");
        assert_eq!(cache.get(&1), Some("tombstone"));
        cache.put_unless(2, "live", |v| *v == "tombstone");
        assert_eq!(cache.get(&2), Some("live"));
    }
}
