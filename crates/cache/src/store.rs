//! The process-wide cache: the memory tier, the fetches in progress, the keys being
//! refreshed in the background, purges, and the counters `/metrics` shows. One per
//! process, kept across reloads; every route with `cache` on shares it.
use crate::fills::Fills;
use crate::memory::MemoryTier;
use crate::stored::{Entry, Stored};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// `[cache]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Bytes the memory tier may hold.
    pub memory: u64,
    /// The largest object stored.
    pub max_object: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { memory: 256 << 20, max_object: 64 << 20 }
    }
}

/// What one route's requests met, for `/metrics`.
#[derive(Debug, Default)]
pub struct RouteCounters {
    pub hit: AtomicU64,
    pub miss: AtomicU64,
    pub stale: AtomicU64,
    pub revalidated: AtomicU64,
    pub bypass: AtomicU64,
    pub collapsed: AtomicU64,
    pub stored: AtomicU64,
}

impl RouteCounters {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a purge removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purge {
    /// One URL, every variant and every key made from it.
    Url(String),
    /// Every URL that starts with this.
    Prefix(String),
    /// Every response that carried this tag.
    Tag(String),
    All,
}

pub struct Store {
    pub config: StoreConfig,
    memory: MemoryTier,
    pub fills: Arc<Fills>,
    refreshing: Mutex<HashSet<Arc<str>>>,
    routes: Mutex<BTreeMap<String, Arc<RouteCounters>>>,
    purges: AtomicU64,
}

impl Store {
    pub fn new(config: StoreConfig) -> Store {
        Store {
            memory: MemoryTier::new(config.memory),
            config,
            fills: Arc::default(),
            refreshing: Mutex::default(),
            routes: Mutex::default(),
            purges: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.memory.get(key)
    }

    /// Stores `stored` under `key` (for `url`), in place of the variant of the same
    /// secondary key.
    pub fn put(&self, key: &Arc<str>, url: &Arc<str>, stored: Arc<Stored>) {
        let entry = match self.get(key) {
            Some(old) => old.with(stored),
            None => Entry { url: url.clone(), variants: vec![stored] },
        };
        self.memory.insert(key.clone(), Arc::new(entry));
    }

    /// Removes what `purge` names; the number of purges so far counts it.
    pub fn purge(&self, purge: &Purge) {
        self.purges.fetch_add(1, Ordering::Relaxed);
        match purge.clone() {
            Purge::All => self.memory.clear(),
            Purge::Url(url) => self.memory.remove_if(move |_, e| *e.url == *url),
            Purge::Prefix(prefix) => self.memory.remove_if(move |_, e| e.url.starts_with(&prefix)),
            Purge::Tag(tag) => self.memory.remove_if(move |_, e| e.tagged(&tag)),
        }
    }

    /// Removes the entries of `url` (an unsafe method's invalidation; not counted as a
    /// purge). When the key is the URL itself, that one entry; else a scan.
    pub fn invalidate(&self, url: &str, key_is_url: bool) {
        match key_is_url {
            true => self.memory.remove(url),
            false => {
                let url = url.to_string();
                self.memory.remove_if(move |_, e| *e.url == *url)
            }
        }
    }

    /// Claims the background refresh of `key`; `None` if one is already running.
    pub fn start_refresh(self: &Arc<Self>, key: &Arc<str>) -> Option<RefreshClaim> {
        let fresh = self.refreshing.lock().unwrap().insert(key.clone());
        fresh.then(|| RefreshClaim { store: self.clone(), key: key.clone() })
    }

    /// The counters of route `name` (the same across reloads).
    pub fn route(&self, name: &str) -> Arc<RouteCounters> {
        self.routes.lock().unwrap().entry(name.to_string()).or_default().clone()
    }

    pub fn routes(&self) -> Vec<(String, Arc<RouteCounters>)> {
        self.routes.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Bytes, objects, bound and evictions of the memory tier.
    pub fn memory_usage(&self) -> (u64, u64, u64, u64) {
        self.memory.usage()
    }

    pub fn purges(&self) -> u64 {
        self.purges.load(Ordering::Relaxed)
    }

    /// The `n` keys with the most hits, with their hits.
    pub fn top_keys(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = self
            .memory
            .entries()
            .map(|(k, e)| (k.to_string(), e.variants.iter().map(|v| v.hits.load(Ordering::Relaxed)).sum()))
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}

/// A background refresh in progress; dropping it lets the next one start.
pub struct RefreshClaim {
    store: Arc<Store>,
    key: Arc<str>,
}

impl Drop for RefreshClaim {
    fn drop(&mut self) {
        self.store.refreshing.lock().unwrap().remove(&self.key);
    }
}
