//! What the disk tier holds, in memory: per key, its file's size, URL and tags (so that a
//! purge needs to read no file) and when it was last used (for eviction, oldest first);
//! per URL the keys more than it, and per tag the keys that carry it, so that a purge of
//! one URL or one tag finds its keys without a scan of every key.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub struct Indexed {
    pub size: u64,
    pub url: Arc<str>,
    pub tags: Vec<Box<str>>,
    used: u64,
}

/// What a purge or a soft purge picks out of the index.
pub enum Pick {
    /// Every key of one URL: its own, its part's, and those more than it (a route's `key`
    /// with headers or cookies). Found without a scan.
    Url(Arc<str>),
    /// Every key whose responses carry a tag. Found without a scan.
    Tag(Box<str>),
    /// What a predicate picks, by a scan.
    If(Box<dyn Fn(&Indexed) -> bool + Send>),
}

#[derive(Default)]
pub struct Index {
    map: HashMap<Arc<str>, Indexed>,
    /// The sum of the files' sizes.
    pub bytes: u64,
    /// Per URL, its keys more than the URL and its part's key (`partial::more_than_url`).
    beyond_url: Names,
    /// Per tag, the keys that carry it.
    tagged: Names,
    clock: u64,
}

/// Keys noted under names (a URL, a tag): exactly the indexed keys that belong there.
#[derive(Default)]
struct Names(HashMap<Box<str>, HashSet<Arc<str>>>);

impl Names {
    fn note(&mut self, name: &str, key: &Arc<str>) {
        if let Some(keys) = self.0.get_mut(name) {
            keys.insert(key.clone());
        } else {
            self.0.insert(name.into(), HashSet::from([key.clone()]));
        }
    }

    fn forget(&mut self, name: &str, key: &str) {
        if let Some(keys) = self.0.get_mut(name) {
            keys.remove(key);
            if keys.is_empty() {
                self.0.remove(name);
            }
        }
    }

    fn of(&self, name: &str) -> impl Iterator<Item = &Arc<str>> {
        self.0.get(name).into_iter().flatten()
    }
}

impl Index {
    pub fn insert(&mut self, key: Arc<str>, size: u64, url: Arc<str>, tags: Vec<Box<str>>) {
        self.clock += 1;
        self.remove(&key);
        if crate::partial::more_than_url(&key, &url) {
            self.beyond_url.note(&url, &key);
        }
        for tag in &tags {
            self.tagged.note(tag, &key);
        }
        self.bytes += size;
        self.map.insert(key, Indexed { size, url, tags, used: self.clock });
    }

    /// Whether `key` is there; a use, for eviction.
    pub fn touch(&mut self, key: &str) -> bool {
        self.clock += 1;
        let now = self.clock;
        self.map.get_mut(key).map(|e| e.used = now).is_some()
    }

    pub fn remove(&mut self, key: &str) -> Option<Indexed> {
        let gone = self.map.remove(key)?;
        self.bytes -= gone.size;
        if crate::partial::more_than_url(key, &gone.url) {
            self.beyond_url.forget(&gone.url, key);
        }
        for tag in &gone.tags {
            self.tagged.forget(tag, key);
        }
        Some(gone)
    }

    /// The keys `pick` picks.
    pub fn keys(&self, pick: &Pick) -> Vec<Arc<str>> {
        match pick {
            Pick::Url(url) => {
                let own = [url.clone(), crate::partial::key(url).into()];
                let own = own.into_iter().filter(|k| self.map.contains_key(k));
                own.chain(self.beyond_url.of(url).cloned()).collect()
            }
            Pick::Tag(tag) => self.tagged.of(tag).cloned().collect(),
            Pick::If(picked) => self.map.iter().filter(|(_, e)| picked(e)).map(|(k, _)| k.clone()).collect(),
        }
    }

    /// Removes and returns the keys `pick` picks.
    pub fn remove_picked(&mut self, pick: &Pick) -> Vec<Arc<str>> {
        let keys = self.keys(pick);
        keys.iter().for_each(|k| drop(self.remove(k)));
        keys
    }

    /// Removes the least recently used keys until at most `bytes` are held; returns them.
    pub fn shrink_to(&mut self, bytes: u64) -> Vec<Arc<str>> {
        if self.bytes <= bytes {
            return Vec::new();
        }
        let mut by_age: Vec<(u64, u64, Arc<str>)> = self.map.iter().map(|(k, e)| (e.used, e.size, k.clone())).collect();
        by_age.sort_unstable_by_key(|(used, _, _)| *used);
        let mut over = self.bytes - bytes;
        let mut doomed = Vec::new();
        for (_, size, key) in by_age {
            if over == 0 {
                break;
            }
            over = over.saturating_sub(size);
            self.remove(&key);
            doomed.push(key);
        }
        doomed
    }

    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinking_drops_the_least_recently_used_first() {
        let mut index = Index::default();
        for k in ["a", "b", "c"] {
            index.insert(k.into(), 10, "u".into(), Vec::new());
        }
        assert!(index.touch("a"));
        assert_eq!(index.shrink_to(15).iter().map(|k| &**k).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!((index.len(), index.bytes), (1, 10));
        index.insert("a".into(), 4, "u".into(), Vec::new());
        assert_eq!(index.bytes, 4);
    }

    #[test]
    fn a_urls_and_a_tags_keys_are_found_without_a_scan_and_forgotten_with_their_files() {
        let mut index = Index::default();
        let url: Arc<str> = "http://a/x".into();
        let part = crate::partial::key(&url);
        let tenant = "http://a/x\nh:x-tenant=a,";
        let tags = |t: &[&str]| t.iter().map(|t| Box::from(*t)).collect::<Vec<_>>();
        index.insert(url.clone(), 1, url.clone(), tags(&["t1"]));
        index.insert(part.as_str().into(), 1, url.clone(), tags(&["t1", "t2"]));
        index.insert(tenant.into(), 1, url.clone(), tags(&["t2"]));
        index.insert("http://a/y".into(), 1, "http://a/y".into(), tags(&["t1"]));
        let sorted = |mut keys: Vec<Arc<str>>| {
            keys.sort();
            keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(sorted(index.keys(&Pick::Url(url.clone()))), [url.to_string(), tenant.into(), part.clone()]);
        assert_eq!(sorted(index.keys(&Pick::Tag("t2".into()))), [tenant.to_string(), part.clone()]);
        assert_eq!(index.keys(&Pick::Tag("t3".into())), Vec::<Arc<str>>::new());
        // Stored again with other tags: the old ones no longer name it.
        index.insert(tenant.into(), 1, url.clone(), tags(&["t3"]));
        assert_eq!(sorted(index.keys(&Pick::Tag("t2".into()))), std::slice::from_ref(&part));
        assert_eq!(sorted(index.remove_picked(&Pick::Url(url.clone()))), [url.to_string(), tenant.into(), part]);
        assert_eq!(sorted(index.keys(&Pick::Tag("t1".into()))), ["http://a/y"]);
        assert!(index.beyond_url.0.is_empty() && index.tagged.0.len() == 1, "no names left without keys");
        let by_scan = Pick::If(Box::new(|e: &Indexed| &*e.url == "http://a/y"));
        assert_eq!(sorted(index.remove_picked(&by_scan)), ["http://a/y"]);
        assert!(index.tagged.0.is_empty() && index.len() == 0 && index.bytes == 0);
    }
}
