//! Keys noted under a name, so that a purge of that name finds them without a scan of the
//! store: under a URL, its keys that are more than the URL (a route's `key` with headers
//! or cookies: `URL\nh:accept-language=de,`); under a tag, the keys of the responses that
//! carried it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A superset of the keys the memory tier holds under each name: a key it evicts, or
/// stores again without the name, stays noted until a pruning finds it gone.
#[derive(Default)]
pub struct KeyNotes(Mutex<Noted>);

#[derive(Default)]
struct Noted {
    /// Per name, its keys and the generation each was noted in (a set: a tag may name
    /// every object).
    by_name: HashMap<Arc<str>, HashMap<Arc<str>, u64>>,
    keys: usize,
    /// Pruned when `keys` passes this (and twice the objects held): twice what the last
    /// pruning kept, so that one that keeps most is not run again at the next note.
    prune_at: usize,
    /// Pruning's generation: a key noted in the current one is kept by the next pruning
    /// whether or not the tier holds it yet (it is noted before it is stored).
    generation: u64,
}

impl KeyNotes {
    /// Notes `key` under `name`. Noted before the key is stored, so that a purge that
    /// finds it not yet stored removes nothing, and never misses a stored one. `held` says
    /// whether the memory tier still holds a key; `objects`, how many it holds, bounds
    /// what is noted to twice that.
    pub fn note(&self, name: &str, key: &Arc<str>, held: impl Fn(&str) -> bool, objects: u64) {
        let mut noted = self.0.lock().unwrap();
        let generation = noted.generation;
        if !noted.by_name.contains_key(name) {
            noted.by_name.insert(name.into(), HashMap::new());
        }
        let keys = noted.by_name.get_mut(name).expect("inserted above");
        if keys.insert(key.clone(), generation).is_some() {
            return;
        }
        noted.keys += 1;
        if noted.keys > noted.prune_at.max(2 * objects as usize + 1024) {
            noted.prune(held);
        }
    }

    /// The keys noted under `name` (some perhaps no longer stored under it).
    pub fn of(&self, name: &str) -> Vec<Arc<str>> {
        let noted = self.0.lock().unwrap();
        noted.by_name.get(name).map_or_else(Vec::new, |keys| keys.keys().cloned().collect())
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
        self.by_name.retain(|_, keys| {
            keys.retain(|k, noted_in| *noted_in == recent || held(k));
            !keys.is_empty()
        });
        self.keys = self.by_name.values().map(HashMap::len).sum();
        self.prune_at = 2 * self.keys + 1024;
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::KeyNotes;
    use std::sync::Arc;

    #[test]
    fn keys_are_noted_under_a_name_and_the_gone_ones_pruned() {
        let notes = KeyNotes::default();
        let url = "http://h/a";
        let german: Arc<str> = "http://h/a\nh:accept-language=de,".into();
        let held = |k: &str| k == &*german;
        notes.note(url, &german, held, 0);
        notes.note(url, &german, held, 0);
        assert_eq!(notes.of(url), std::slice::from_ref(&german), "noted once");
        assert!(notes.of("http://h/b").is_empty());

        // Past twice what the tier holds (plus 1,024), what it no longer holds goes, but
        // what was noted since the last pruning stays: it may be on its way in. The first
        // pruning (at 1,025) keeps all; the next comes at twice that plus 1,024.
        for i in 0..1100 {
            notes.note(&format!("http://h/{i}"), &format!("http://h/{i}\nc:s=1").into(), held, 0);
        }
        assert_eq!(notes.of(url), std::slice::from_ref(&german), "held");
        assert!(!notes.of("http://h/1").is_empty(), "noted in the pruning's generation: kept");
        for i in 0..2000 {
            notes.note(&format!("http://h/x{i}"), &format!("http://h/x{i}\nc:s=1").into(), held, 0);
        }
        assert!(notes.of("http://h/1").is_empty(), "not held, from an earlier generation: pruned");
        assert_eq!(notes.of(url), [german], "a held key is never pruned");
        notes.clear();
        assert!(notes.of(url).is_empty());
    }
}
