//! The process-wide cache: the memory tier, the fetches in progress, the keys being
//! refreshed in the background, purges, and the counters `/metrics` shows. One per
//! process, kept across reloads; every route with `cache` on shares it.
use crate::disk::{DiskConfig, DiskTier, TierUsage};
use crate::fills::Fills;
use crate::key_notes::KeyNotes;
use crate::lineage::{self, Lineage, Linked};
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
    /// Shared with the store a reload replaced, when its folder is the same.
    disk: Option<Arc<DiskTier>>,
    pub fills: Arc<Fills>,
    /// Keys whose ranges go as they are for a while (`range_passes.rs`).
    pub range_passes: RangePasses,
    refreshing: Mutex<HashSet<Arc<str>>>,
    routes: Mutex<BTreeMap<String, Arc<RouteCounters>>>,
    purges: AtomicU64,
    soft_purges: AtomicU64,
    /// The keys more than their URL, per URL, and the keys of tagged responses, per tag,
    /// so that no purge or invalidation of one URL or tag scans the memory tier.
    url_keys: KeyNotes,
    tag_keys: KeyNotes,
    /// The store this one takes the place of, and the one that took its place
    /// (`take_over`): a purge is made on each.
    lineage: Lineage<Store>,
}

impl Linked for Store {
    fn lineage(&self) -> &Lineage<Store> {
        &self.lineage
    }
}

impl Store {
    /// The store `config` describes, its disk tier (if any) started; an error when its
    /// disk folder cannot be used.
    pub fn open(config: StoreConfig) -> std::io::Result<Store> {
        let store = Store::prepare(config, None)?;
        store.start();
        Ok(store)
    }

    /// The store `config` describes, whose disk tier touches nothing in its folder until
    /// `start` (when the config that made it is the process's: `DiskTier::prepare`); an
    /// error when that folder cannot be used. The disk tier of
    /// `running`, the store it replaces, is kept where its folder is the same (`start`
    /// gives it the new `size`): a reload that changes the bounds finds the files
    /// indexed, not scanned again, and one thread writes the folder.
    pub fn prepare(config: StoreConfig, running: Option<&Store>) -> std::io::Result<Store> {
        let folder = |c: &StoreConfig| c.disk.as_ref().map(|d| d.path.clone());
        let kept = running.filter(|r| folder(&r.config) == folder(&config)).and_then(|r| r.disk.clone());
        let disk = match kept {
            Some(disk) => Some(disk),
            None => config.disk.as_ref().map(DiskTier::prepare).transpose()?.map(Arc::new),
        };
        Ok(Store {
            memory: MemoryTier::new(config.memory),
            disk,
            config,
            fills: Arc::default(),
            range_passes: RangePasses::default(),
            refreshing: Mutex::default(),
            // The routes' counters go on (shared from now: the new filters count in them).
            routes: Mutex::new(running.map(|r| r.routes.lock().unwrap().clone()).unwrap_or_default()),
            purges: AtomicU64::new(0),
            soft_purges: AtomicU64::new(0),
            url_keys: KeyNotes::default(),
            tag_keys: KeyNotes::default(),
            lineage: Lineage::default(),
        })
    }

    /// Starts the disk tier (`DiskTier::start`), with this config's `size` (a kept tier
    /// may have had another).
    pub fn start(&self) {
        if let (Some(disk), Some(config)) = (&self.disk, &self.config.disk) {
            disk.start();
            disk.resize(config.size);
        }
    }

    /// Takes `replaced`'s place, when a reload's new bounds (`memory`, `max_object`, the
    /// disk's `size` or `path`) made this store instead of keeping it (`prepare` shared
    /// its routes' counters): its purges' counters now, and on a thread of its own
    /// (`lineage.rs`) the objects of its memory tier that fit this one's `max_object` (this
    /// tier's bound evicting as it must), so that a reload that resizes the cache does not
    /// empty it onto the origin.
    pub fn take_over(self: &Arc<Self>, replaced: &Arc<Store>) {
        self.purges.fetch_add(replaced.purges(), Ordering::Relaxed);
        self.soft_purges.fetch_add(replaced.soft_purges(), Ordering::Relaxed);
        lineage::take_place(self, replaced, |new, old| {
            let started = std::time::Instant::now();
            let objects = new.copy_objects_of(old);
            let ms = started.elapsed().as_millis() as u64;
            tracing::info!(objects, ms, "cache objects carried over to the new memory tier");
        });
    }

    /// Waits until the objects it takes over are copied (at once when it takes over none).
    pub fn wait_for_takeover(&self) {
        self.lineage.wait_copied();
    }

    /// Copies the objects of `replaced`'s memory tier that fit this store's `max_object`
    /// and that it does not hold (one stored here since is newer); how many. An object
    /// purged or changed there while it is copied is not kept: a purge reaches `replaced`
    /// before this store (`everywhere`), so either it is gone there when looked at again
    /// after the copy, or the purge reaches this store after the copy.
    fn copy_objects_of(&self, replaced: &Store) -> usize {
        let fits = |e: &Entry| e.variants.iter().all(|v| v.body.len() as u64 <= self.config.max_object);
        let mut copied = 0;
        for (key, entry) in replaced.memory.entries().filter(|(_, e)| fits(e)) {
            if self.memory.contains(&key) {
                continue;
            }
            self.note(&key, &entry.url, entry.variants.iter().flat_map(|v| v.tags.iter()));
            self.memory.insert_if_absent(key.clone(), entry.clone());
            if replaced.memory.get(&key).is_some_and(|there| Arc::ptr_eq(&there, &entry)) {
                copied += 1;
            } else {
                self.memory.remove_picked(&key, |e| std::ptr::eq(e, &*entry));
            }
        }
        copied
    }

    /// `op`'s answer for this store, after it is done on the stores this one still copies
    /// from, and before it is done on those that took this one's place: a purge made on
    /// each store of a takeover, the oldest first.
    fn everywhere<R>(&self, op: impl Fn(&Store) -> R) -> R {
        for older in self.lineage.older() {
            op(&older);
        }
        let answer = op(self);
        for newer in self.lineage.newer() {
            op(&newer);
        }
        answer
    }

    /// The entry of `key`: from memory, else from disk (and then kept in memory again).
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        if let Some(entry) = self.memory.get(key) {
            return Some(entry);
        }
        let entry = Arc::new(self.disk.as_ref()?.get(key)?);
        let key: Arc<str> = key.into();
        self.note(&key, &entry.url, entry.variants.iter().flat_map(|v| v.tags.iter()));
        self.memory.insert(key, entry.clone());
        Some(entry)
    }

    /// Stores `stored` under `key` (for `url`), in place of the variant of the same
    /// secondary key.
    pub fn put(&self, key: &Arc<str>, url: &Arc<str>, stored: Arc<Stored>) {
        self.note(key, url, stored.tags.iter());
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
        self.everywhere(|store| store.purge_here(purge))
    }

    fn purge_here(&self, purge: &Purge) -> usize {
        self.purges.fetch_add(1, Ordering::Relaxed);
        let mut removed = HashSet::new();
        if let Some(disk) = &self.disk {
            removed.extend(disk.remove(purge.clone().on_disk()));
        }
        removed.extend(match (purge, self.keys_of(purge)) {
            (Purge::All, _) => {
                // The notes first: a key stored meanwhile is noted again, or removed.
                self.url_keys.clear();
                self.tag_keys.clear();
                self.memory.clear()
            }
            (purge, Some(keys)) => {
                let picked = |e: &Entry| purge.matches(&e.url, |t| e.tagged(t));
                keys.into_iter().filter(|k| self.memory.remove_picked(k, picked)).collect()
            }
            (purge, None) => self.memory.remove_if(|e| purge.matches(&e.url, |t| e.tagged(t))),
        });
        removed.len()
    }

    /// Notes a key before it goes into the memory tier (`key_notes.rs`): under its URL
    /// where it is more than the URL and its part's key, and under each of its tags.
    fn note<'t>(&self, key: &Arc<str>, url: &str, tags: impl Iterator<Item = &'t Box<str>>) {
        let held = |k: &str| self.memory.contains(k);
        let objects = self.memory.objects();
        if crate::partial::more_than_url(key, url) {
            self.url_keys.note(url, key, held, objects);
        }
        for tag in tags {
            self.tag_keys.note(tag, key, held, objects);
        }
    }

    /// Every key `url` may be stored under: its own, its part's, and those noted as more
    /// than it. No scan.
    fn keys_of_url(&self, url: &str) -> Vec<Arc<str>> {
        let mut keys = self.url_keys.of(url);
        keys.extend([url.into(), crate::partial::key(url).into()]);
        keys
    }

    /// Every key `purge` can name, where they are known without a scan: a URL's (one
    /// written with its host) and a tag's (a superset: each is checked as it is removed).
    fn keys_of(&self, purge: &Purge) -> Option<Vec<Arc<str>>> {
        match (purge.one_url(), purge) {
            (Some(url), _) => Some(self.keys_of_url(url)),
            (None, Purge::Tag(tag)) => Some(self.tag_keys.of(tag)),
            _ => None,
        }
    }

    /// A `PURGE` request's purge of its URL, on a worker: `invalidate`'s removal, no scan
    /// of the memory tier. Counted as a purge.
    pub fn purge_url(&self, url: &str) {
        self.purges.fetch_add(1, Ordering::Relaxed);
        self.invalidate(url);
    }

    /// Makes what `purge` names stale now instead of removing it (Fastly's soft purge,
    /// Varnish's `purge.soft`): its next use validates it with the origin (a 304 costs
    /// the origin no body), and while the origin fails, or within `stale-while-revalidate`,
    /// it is still served. Counted as a purge, and as a soft one. How many stored objects
    /// it made stale (one held by both tiers counts once).
    pub fn soft_purge(&self, purge: &Purge) -> usize {
        self.everywhere(|store| store.soft_purge_here(purge))
    }

    fn soft_purge_here(&self, purge: &Purge) -> usize {
        self.purges.fetch_add(1, Ordering::Relaxed);
        self.soft_purges.fetch_add(1, Ordering::Relaxed);
        let now = crate::freshness::now();
        let mut expired = HashSet::new();
        // The disk's first: a memory miss that reads a file from now on reads it stale.
        if let Some(disk) = &self.disk {
            expired.extend(disk.expire(purge.clone().on_disk(), now));
        }
        let picked = |e: &Entry| purge.matches(&e.url, |t| e.tagged(t));
        expired.extend(match self.keys_of(purge) {
            Some(keys) => self.memory.update(keys, picked, |e| e.expired(now)),
            None => self.memory.update_if(picked, |e| e.expired(now)),
        });
        expired.len()
    }

    /// Removes the entries of `url` (an unsafe method's invalidation; not counted as a
    /// purge): its keys, none looked for by a scan of either tier.
    pub fn invalidate(&self, url: &str) {
        self.everywhere(|store| store.invalidate_here(url))
    }

    fn invalidate_here(&self, url: &str) {
        if let Some(disk) = &self.disk {
            disk.remove(crate::disk::Pick::Url(url.into()));
        }
        for key in self.keys_of_url(url) {
            self.memory.remove(&key);
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
        self.disk.as_deref()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::Timing;

    fn stored() -> Arc<Stored> {
        let now = crate::freshness::now();
        Arc::new(Stored {
            body: bytes::Bytes::from_static(b"x"),
            timing: Timing { request_time: now, response_time: now, initial_age: 0 },
            lifetime: 600,
            ..Default::default()
        })
    }

    fn put(store: &Store, key: &str, url: &str) {
        store.put(&key.into(), &url.into(), stored());
    }

    #[test]
    fn a_url_purge_removes_every_key_of_the_url_and_counts_them() {
        let store = Store::open(StoreConfig::default()).unwrap();
        let (a, b) = ("http://h/a", "http://h/b");
        put(&store, a, a);
        put(&store, &crate::partial::key(a), a);
        put(&store, b, b);
        assert_eq!(store.purge(&Purge::Url(a.into())), 2, "the URL's own key and its part's");
        assert!(store.get(a).is_none() && store.get(&crate::partial::key(a)).is_none());
        assert!(store.get(b).is_some());
        assert_eq!(store.purge(&Purge::Url(a.into())), 0);

        // A key more than its URL is found all the same.
        let by_language = format!("{b}\nh:accept-language=de,");
        put(&store, &by_language, b);
        assert_eq!(store.soft_purge(&Purge::Url(b.into())), 2, "both made stale");
        assert_eq!(store.purge(&Purge::Url(b.into())), 2);
        assert!(store.get(b).is_none() && store.get(&by_language).is_none());
    }

    #[test]
    fn a_tag_purge_removes_what_carries_the_tag_now() {
        let store = Store::open(StoreConfig::default()).unwrap();
        let tagged = |tags: &[&str]| {
            let mut s = Arc::into_inner(stored()).unwrap();
            s.tags = tags.iter().map(|t| Box::from(*t)).collect();
            Arc::new(s)
        };
        let (a, b, c) = ("http://h/a", "http://h/b", "http://h/c");
        store.put(&a.into(), &a.into(), tagged(&["red", "blue"]));
        store.put(&b.into(), &b.into(), tagged(&["red"]));
        store.put(&c.into(), &c.into(), tagged(&["blue"]));
        // b stored again without the tag: noted under it still, but no longer carrying it.
        store.put(&b.into(), &b.into(), tagged(&[]));
        assert_eq!(store.soft_purge(&Purge::Tag("red".into())), 1, "a alone");
        assert_eq!(store.purge(&Purge::Tag("red".into())), 1);
        assert!(store.get(a).is_none() && store.get(b).is_some() && store.get(c).is_some());
        assert_eq!(store.purge(&Purge::Tag("blue".into())), 1, "c");
        assert_eq!(store.purge(&Purge::Tag("green".into())), 0);
    }

    #[test]
    fn a_new_store_takes_over_the_objects_counters_and_later_purges_of_the_one_it_replaces() {
        let old = Arc::new(Store::open(StoreConfig::default()).unwrap());
        let with = |body: Vec<u8>, tags: &[&str]| {
            let mut s = Arc::into_inner(stored()).unwrap();
            (s.body, s.tags) = (body.into(), tags.iter().map(|t| Box::from(*t)).collect());
            Arc::new(s)
        };
        let (a, b, big, red) = ("http://h/a", "http://h/b", "http://h/big", "http://h/red");
        for (url, body, tags) in
            [(a, vec![b'a'], &[][..]), (b, vec![b'b'], &[]), (big, vec![0; 2 << 20], &[]), (red, vec![b'r'], &["red"])]
        {
            old.put(&url.into(), &url.into(), with(body, tags));
        }
        RouteCounters::count(&old.route("r").hit);
        old.purge(&Purge::Url("http://h/none".into()));

        let config = StoreConfig { memory: 8 << 20, max_object: 1 << 20, disk: None };
        let new = Arc::new(Store::prepare(config, Some(&old)).unwrap());
        new.put(&b.into(), &b.into(), with(vec![b'B'], &[]));
        new.take_over(&old);
        new.wait_for_takeover();
        assert_eq!(&new.get(a).unwrap().variants[0].body[..], b"a");
        assert_eq!(&new.get(b).unwrap().variants[0].body[..], b"B", "what the new store holds stays");
        assert!(new.get(big).is_none(), "larger than the new max_object");
        assert!(Arc::ptr_eq(&new.route("r"), &old.route("r")), "the route's counters go on");
        assert_eq!(new.purges(), 1);
        assert_eq!(new.purge(&Purge::Tag("red".into())), 1, "the copied object's tag is noted");

        // The workers of the config before purge the old store: the new one follows.
        old.purge_url(a);
        assert!(new.get(a).is_none());
        new.put(&a.into(), &a.into(), with(vec![b'a'], &[]));
        assert_eq!(old.soft_purge(&Purge::Url(a.into())), 0);
        let freshness = new.get(a).unwrap().variants[0].freshness(crate::freshness::now());
        assert!(matches!(freshness, crate::stored::Freshness::Stale(_)), "made stale there too");
        old.purge(&Purge::All);
        assert!(new.get(a).is_none() && new.get(b).is_none());
    }

    #[test]
    fn a_purge_while_the_objects_are_copied_is_made_on_both_stores() {
        let old = Arc::new(Store::open(StoreConfig::default()).unwrap());
        let (a, b) = ("http://h/a", "http://h/b");
        put(&old, a, a);
        put(&old, b, b);
        let new = Arc::new(Store::prepare(StoreConfig::default(), Some(&old)).unwrap());
        let (go, held) = std::sync::mpsc::channel::<()>();
        lineage::take_place(&new, &old, move |new, old| {
            held.recv().unwrap();
            new.copy_objects_of(old);
        });
        // Purged through the new store before its copy: the old one's object goes first.
        new.purge_url(a);
        assert!(old.get(a).is_none(), "purged where it is copied from");
        go.send(()).unwrap();
        new.wait_for_takeover();
        assert!(new.get(a).is_none(), "not copied back");
        assert!(new.get(b).is_some());
    }

    #[test]
    fn a_purge_request_removes_its_url_whatever_the_keys() {
        let store = Store::open(StoreConfig::default()).unwrap();
        let a = "http://h/a";
        put(&store, a, a);
        store.purge_url(a);
        assert!(store.get(a).is_none());
        let with_cookie = format!("{a}\nc:session=1");
        put(&store, &with_cookie, a);
        store.purge_url(a);
        assert!(store.get(&with_cookie).is_none());
        assert_eq!(store.purges(), 2);
    }
}
