//! The keys of each URL that are more than the URL (a route's `key` with headers or
//! cookies: `URL\nh:accept-language=de,`), so that a purge or an invalidation of one URL
//! finds every key of it without a scan of the store. The others a URL can have are known
//! without it: the URL itself and its part's key.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A superset of the keys beyond their URL the memory tier holds: a key it evicts stays
/// noted until a pruning finds it gone.
#[derive(Default)]
pub struct UrlKeys(Mutex<Noted>);

#[derive(Default)]
struct Noted {
    by_url: HashMap<Arc<str>, Vec<(Arc<str>, u64)>>,
    keys: usize,
    /// Pruned when `keys` passes this (and twice the objects held): twice what the last
    /// pruning kept, so that one that keeps most is not run again at the next note.
    prune_at: usize,
    /// Pruning's generation: a key noted in the current one is kept by the next pruning
    /// whether or not the tier holds it yet (it is noted before it is stored).
    generation: u64,
}

impl UrlKeys {
    /// Notes `key` of `url` where it is more than the URL and its part's key. Noted
    /// before the key is stored, so that a purge that finds it not yet stored removes
    /// nothing, and never misses a stored one. `held` says whether the memory tier still
    /// holds a key; `objects`, how many it holds, bounds what is noted to twice that.
    pub fn note(&self, key: &Arc<str>, url: &Arc<str>, held: impl Fn(&str) -> bool, objects: u64) {
        if !beyond(key, url) {
            return;
        }
        let mut noted = self.0.lock().unwrap();
        let generation = noted.generation;
        let keys = noted.by_url.entry(url.clone()).or_default();
        if keys.iter().any(|(k, _)| k == key) {
            return;
        }
        keys.push((key.clone(), generation));
        noted.keys += 1;
        if noted.keys > noted.prune_at.max(2 * objects as usize + 1024) {
            noted.prune(held);
        }
    }

    /// The keys noted for `url` (some perhaps no longer stored).
    pub fn of(&self, url: &str) -> Vec<Arc<str>> {
        let noted = self.0.lock().unwrap();
        noted.by_url.get(url).map_or_else(Vec::new, |keys| keys.iter().map(|(k, _)| k.clone()).collect())
    }

    /// Forgets every key (the store was emptied).
    pub fn clear(&self) {
        let mut noted = self.0.lock().unwrap();
        let generation = noted.generation + 1;
        *noted = Noted { generation, ..Noted::default() };
    }
}

impl Noted {
    /// Drops the keys the tier no longer holds, but those noted since the last pruning.
    fn prune(&mut self, held: impl Fn(&str) -> bool) {
        let recent = self.generation;
        self.by_url.retain(|_, keys| {
            keys.retain(|(k, noted_in)| *noted_in == recent || held(k));
            !keys.is_empty()
        });
        self.keys = self.by_url.values().map(Vec::len).sum();
        self.prune_at = 2 * self.keys + 1024;
        self.generation += 1;
    }
}

/// Whether `key` is more than `url` and `url`'s part key (`partial::key`).
fn beyond(key: &str, url: &str) -> bool {
    key.len() > url.len() && key[url.len()..] != *"\npart"
}

#[cfg(test)]
mod tests {
    use super::UrlKeys;
    use std::sync::Arc;

    #[test]
    fn a_urls_keys_beyond_it_are_noted_and_the_gone_ones_pruned() {
        let keys = UrlKeys::default();
        let url: Arc<str> = "http://h/a".into();
        let held = |_: &str| true;
        keys.note(&url.clone(), &url, held, 0);
        keys.note(&"http://h/a\npart".into(), &url, held, 0);
        assert!(keys.of(&url).is_empty(), "the URL's own keys are known without a note");
        let german: Arc<str> = "http://h/a\nh:accept-language=de,".into();
        keys.note(&german, &url, held, 0);
        keys.note(&german, &url, held, 0);
        assert_eq!(keys.of(&url), std::slice::from_ref(&german), "noted once");

        // Past twice what the tier holds (plus 1,024), what it no longer holds goes, but
        // what was noted since the last pruning stays: it may be on its way in. The first
        // pruning (at 1,025) keeps all; the next comes at twice that plus 1,024.
        for i in 0..1100 {
            keys.note(&format!("http://h/{i}\nc:s=1").into(), &format!("http://h/{i}").into(), |k| k == &*german, 0);
        }
        assert_eq!(keys.of(&url), std::slice::from_ref(&german), "held");
        assert!(!keys.of("http://h/1").is_empty(), "noted in the pruning's generation: kept");
        for i in 0..2000 {
            keys.note(&format!("http://h/x{i}\nc:s=1").into(), &format!("http://h/x{i}").into(), |k| k == &*german, 0);
        }
        assert!(keys.of("http://h/1").is_empty(), "not held, from an earlier generation: pruned");
        assert_eq!(keys.of(&url), [german], "a held key is never pruned");
        keys.clear();
        assert!(keys.of("http://h/a").is_empty());
    }
}
