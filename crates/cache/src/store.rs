//! The process-wide cache: the memory tier, the fetches in progress, the keys being
//! refreshed in the background, purges, and the counters `/metrics` shows. One per
//! process, kept across reloads; every route with `cache` on shares it.
use crate::disk::{DiskConfig, DiskTier, TierUsage};
use crate::fills::Fills;
use crate::memory::MemoryTier;
use crate::purge::Purge;
use crate::range_passes::RangePasses;
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
    /// The optional disk tier.
    pub disk: Option<DiskConfig>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { memory: 256 << 20, max_object: 64 << 20, disk: None }
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

pub struct Store {
    pub config: StoreConfig,
    memory: MemoryTier,
    disk: Option<DiskTier>,
    pub fills: Arc<Fills>,
    /// Keys whose ranges go as they are for a while (`range_passes.rs`).
    pub range_passes: RangePasses,
    refreshing: Mutex<HashSet<Arc<str>>>,
    routes: Mutex<BTreeMap<String, Arc<RouteCounters>>>,
    purges: AtomicU64,
    soft_purges: AtomicU64,
}

impl Store {
    /// The store `config` describes; an error when its disk folder cannot be used.
    pub fn open(config: StoreConfig) -> std::io::Result<Store> {
        Ok(Store {
            memory: MemoryTier::new(config.memory),
            disk: config.disk.as_ref().map(DiskTier::open).transpose()?,
            config,
            fills: Arc::default(),
            range_passes: RangePasses::default(),
            refreshing: Mutex::default(),
            routes: Mutex::default(),
            purges: AtomicU64::new(0),
            soft_purges: AtomicU64::new(0),
        })
    }

    /// The entry of `key`: from memory, else from disk (and then kept in memory again).
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        if let Some(entry) = self.memory.get(key) {
            return Some(entry);
        }
        let entry = Arc::new(self.disk.as_ref()?.get(key)?);
        self.memory.insert(key.into(), entry.clone());
        Some(entry)
    }

    /// Stores `stored` under `key` (for `url`), in place of the variant of the same
    /// secondary key.
    pub fn put(&self, key: &Arc<str>, url: &Arc<str>, stored: Arc<Stored>) {
        let entry = match self.get(key) {
            Some(old) => old.with(stored),
            None => Entry { url: url.clone(), variants: vec![stored] },
        };
        let entry = Arc::new(entry);
        self.memory.insert(key.clone(), entry.clone());
        if let Some(disk) = &self.disk {
            disk.put(key.clone(), entry);
        }
    }

    /// Removes what `purge` names; the number of purges so far counts it. How many stored
    /// objects it removed (one held by both tiers counts once).
    pub fn purge(&self, purge: &Purge) -> usize {
        self.purges.fetch_add(1, Ordering::Relaxed);
        let mut removed = HashSet::new();
        if let Some(disk) = &self.disk {
            removed.extend(disk.remove_if(purge.clone().on_disk()));
        }
        removed.extend(match purge.clone() {
            Purge::All => self.memory.clear(),
            purge => self.memory.remove_if(move |_, e| purge.matches(&e.url, |t| e.tagged(t))),
        });
        removed.len()
    }

    /// Makes what `purge` names stale now instead of removing it (Fastly's soft purge,
    /// Varnish's `purge.soft`): its next use validates it with the origin (a 304 costs
    /// the origin no body), and while the origin fails, or within `stale-while-revalidate`,
    /// it is still served. Counted as a purge, and as a soft one. How many stored objects
    /// it made stale (one held by both tiers counts once).
    pub fn soft_purge(&self, purge: &Purge) -> usize {
        self.purges.fetch_add(1, Ordering::Relaxed);
        self.soft_purges.fetch_add(1, Ordering::Relaxed);
        let now = crate::freshness::now();
        let mut expired = HashSet::new();
        // The disk's first: a memory miss that reads a file from now on reads it stale.
        if let Some(disk) = &self.disk {
            expired.extend(disk.expire_if(purge.clone().on_disk(), now));
        }
        expired.extend(self.memory.update_if(|e| purge.matches(&e.url, |t| e.tagged(t)), |e| e.expired(now)));
        expired.len()
    }

    /// Removes the entries of `url` (an unsafe method's invalidation; not counted as a
    /// purge). When the key is the URL itself, that one entry; else a scan.
    pub fn invalidate(&self, url: &str, key_is_url: bool) {
        if let Some(disk) = &self.disk {
            let url: Arc<str> = url.into();
            disk.remove_if(move |e| e.url == url);
        }
        match key_is_url {
            true => {
                self.memory.remove(url);
                self.memory.remove(&crate::partial::key(url));
            }
            false => {
                let url = url.to_string();
                self.memory.remove_if(move |_, e| *e.url == *url);
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

    pub fn memory_usage(&self) -> TierUsage {
        self.memory.usage()
    }

    pub fn disk(&self) -> Option<&DiskTier> {
        self.disk.as_ref()
    }

    pub fn purges(&self) -> u64 {
        self.purges.load(Ordering::Relaxed)
    }

    pub fn soft_purges(&self) -> u64 {
        self.soft_purges.load(Ordering::Relaxed)
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
