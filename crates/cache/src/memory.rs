//! The in-memory tier: a bounded map from key to entry, weighed in bytes, whose admission
//! (TinyLFU, by moka) keeps a scan of one-off keys from flushing the popular ones.
use crate::disk::TierUsage;
use crate::stored::Entry;
use moka::notification::RemovalCause;
use moka::ops::compute::Op;
use moka::sync::Cache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct MemoryTier {
    map: Cache<Arc<str>, Arc<Entry>>,
    capacity: u64,
    evictions: Arc<AtomicU64>,
}

impl MemoryTier {
    pub fn new(capacity: u64) -> MemoryTier {
        let evictions = Arc::new(AtomicU64::new(0));
        let counted = evictions.clone();
        let map = Cache::builder()
            .max_capacity(capacity)
            .weigher(|_key: &Arc<str>, entry: &Arc<Entry>| u32::try_from(entry.weight()).unwrap_or(u32::MAX))
            .eviction_listener(move |_key, _entry, cause| {
                if cause == RemovalCause::Size {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        MemoryTier { map, capacity, evictions }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.map.get(key)
    }

    pub fn insert(&self, key: Arc<str>, entry: Arc<Entry>) {
        self.map.insert(key, entry);
    }

    /// Inserts `entry` unless the key holds one already.
    pub fn insert_if_absent(&self, key: Arc<str>, entry: Arc<Entry>) {
        self.map.entry(key).or_insert(entry);
    }

    pub fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// How many entries it holds (by the map's last count).
    pub fn objects(&self) -> u64 {
        self.map.entry_count()
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&self, key: &str) -> bool {
        self.map.remove(key).is_some()
    }

    /// Removes `key` if its entry is one `picked` picks, as one step (a response stored
    /// for it meanwhile is picked again); whether it did.
    pub fn remove_picked(&self, key: &Arc<str>, picked: impl Fn(&Entry) -> bool) -> bool {
        let mut removed = false;
        self.map.entry(key.clone()).and_compute_with(|current| match current {
            Some(e) if picked(e.value()) => {
                removed = true;
                Op::Remove
            }
            _ => Op::Nop,
        });
        removed
    }

    /// Removes every entry `doomed` picks, by a scan of every entry (about half a
    /// microsecond each: run it off the workers); the keys it removed.
    pub fn remove_if(&self, doomed: impl Fn(&Entry) -> bool) -> Vec<Arc<str>> {
        self.keys_if(doomed).into_iter().filter(|k| self.remove(k)).collect()
    }

    /// The keys of the entries `picked` picks: a scan of every entry.
    fn keys_if(&self, picked: impl Fn(&Entry) -> bool) -> Vec<Arc<str>> {
        self.map.iter().filter(|(_, e)| picked(e)).map(|(k, _)| (*k).clone()).collect()
    }

    /// Puts in place of each entry `picked` picks the one `change` makes of it, where it
    /// makes one. Each key is changed as one step, so that a response stored for it
    /// meanwhile is not replaced by a changed copy of the one before (it is picked again).
    /// The keys it changed. A scan of every entry, as `remove_if`.
    pub fn update_if(
        &self,
        picked: impl Fn(&Entry) -> bool,
        change: impl Fn(&Entry) -> Option<Entry>,
    ) -> Vec<Arc<str>> {
        self.update(self.keys_if(&picked), picked, change)
    }

    /// `update_if` for the entries of `keys` alone: no scan.
    pub fn update(
        &self,
        keys: Vec<Arc<str>>,
        picked: impl Fn(&Entry) -> bool,
        change: impl Fn(&Entry) -> Option<Entry>,
    ) -> Vec<Arc<str>> {
        let mut changed_keys = Vec::with_capacity(keys.len());
        for key in keys {
            let changed = |current: Option<moka::Entry<Arc<str>, Arc<Entry>>>| {
                current.map(|e| e.into_value()).filter(|e| picked(e)).and_then(|e| change(&e))
            };
            self.map.entry(key.clone()).and_compute_with(|current| match changed(current) {
                Some(changed) => {
                    changed_keys.push(key);
                    Op::Put(Arc::new(changed))
                }
                None => Op::Nop,
            });
        }
        changed_keys
    }

    /// Removes every entry; the keys there were.
    pub fn clear(&self) -> Vec<Arc<str>> {
        let keys = self.map.iter().map(|(k, _)| (*k).clone()).collect();
        self.map.invalidate_all();
        self.map.run_pending_tasks();
        keys
    }

    /// Bytes held (by the weigher), objects, the bound, and evictions so far.
    pub fn usage(&self) -> TierUsage {
        self.map.run_pending_tasks();
        TierUsage {
            bytes: self.map.weighted_size(),
            objects: self.map.entry_count(),
            bound: self.capacity,
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// Every entry (for the admin API's top keys).
    pub fn entries(&self) -> impl Iterator<Item = (Arc<str>, Arc<Entry>)> + '_ {
        self.map.iter().map(|(k, e)| ((*k).clone(), e))
    }
}
