//! What the disk tier holds, in memory: per key, its file's size, URL and tags (so that a
//! purge needs to read no file) and when it was last used (for eviction, oldest first).
use std::collections::HashMap;
use std::sync::Arc;

pub struct Indexed {
    pub size: u64,
    pub url: Arc<str>,
    pub tags: Vec<Box<str>>,
    used: u64,
}

#[derive(Default)]
pub struct Index {
    map: HashMap<Arc<str>, Indexed>,
    /// The sum of the files' sizes.
    pub bytes: u64,
    /// Whether a key more than its URL was ever indexed (`partial::more_than_url`): until
    /// then a URL's keys are its own and its part's.
    pub keys_beyond_url: bool,
    clock: u64,
}

impl Index {
    pub fn insert(&mut self, key: Arc<str>, size: u64, url: Arc<str>, tags: Vec<Box<str>>) {
        self.clock += 1;
        self.keys_beyond_url |= crate::partial::more_than_url(&key, &url);
        let fresh = Indexed { size, url, tags, used: self.clock };
        self.bytes += size;
        if let Some(old) = self.map.insert(key, fresh) {
            self.bytes -= old.size;
        }
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
        Some(gone)
    }

    /// The keys `picked` picks.
    pub fn keys_if(&self, picked: &dyn Fn(&Indexed) -> bool) -> Vec<Arc<str>> {
        self.map.iter().filter(|(_, e)| picked(e)).map(|(k, _)| k.clone()).collect()
    }

    /// Removes and returns the keys `doomed` picks.
    pub fn remove_if(&mut self, doomed: &dyn Fn(&Indexed) -> bool) -> Vec<Arc<str>> {
        let keys = self.keys_if(doomed);
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
}
