//! One limit's buckets: a key's TAT (see `gcra`) in one of 64 shards, each behind its own
//! lock, so that workers rarely meet. Memory stays near the keys that are live: a shard
//! drops the keys whose TAT has passed (they are the same as new ones) whenever it has
//! doubled since it last did, and `sweep` (called every second by the registry's
//! sweeper) does the same for every shard, so that keys that stopped coming are gone
//! within a period or two. A shard never holds more than its share of `max_keys`: past
//! that, a new key is let through untracked (counted), rather than memory growing.
use super::gcra::{self, Conform};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

const SHARDS: usize = 64;

/// Keys are already hashes (keyed SipHash, see `key`): the map need not hash again.
#[derive(Default)]
struct Identity(u64);

impl std::hash::Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Shard {
    tats: HashMap<u64, u64, BuildHasherDefault<Identity>>,
    /// Drop passed keys when the map reaches this many.
    sweep_at: usize,
}

impl Shard {
    fn sweep(&mut self, now_ns: u64) {
        self.tats.retain(|_, tat| *tat > now_ns);
        self.sweep_at = (self.tats.len() * 2).max(64);
        if self.tats.capacity() > self.sweep_at * 2 {
            self.tats.shrink_to(self.sweep_at);
        }
    }
}

pub struct Table {
    shards: Box<[Mutex<Shard>]>,
    /// `max_keys`' share per shard (a reload may change it).
    max_per_shard: AtomicUsize,
    /// Requests let through because their shard was full of live keys.
    pub untracked: AtomicU64,
}

impl Table {
    pub fn new(max_keys: usize) -> Table {
        Table {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            max_per_shard: AtomicUsize::new(per_shard(max_keys)),
            untracked: AtomicU64::new(0),
        }
    }

    /// Decides one request of `key` at `now_ns`.
    pub fn check(&self, key: u64, now_ns: u64, emission_ns: u64, burst: u64) -> Conform {
        let mut shard = self.shards[(key >> 58) as usize % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tat) = shard.tats.get_mut(&key) {
            return gcra::check(tat, now_ns, emission_ns, burst);
        }
        let max_per_shard = self.max_per_shard.load(Ordering::Relaxed);
        if shard.tats.len() >= shard.sweep_at.min(max_per_shard) {
            shard.sweep(now_ns);
            if shard.tats.len() >= max_per_shard {
                self.untracked.fetch_add(1, Ordering::Relaxed);
                return Conform::Yes { ahead_ns: 0 };
            }
        }
        let mut tat = 0;
        let verdict = gcra::check(&mut tat, now_ns, emission_ns, burst);
        shard.tats.insert(key, tat);
        verdict
    }

    /// Drops every key whose TAT has passed.
    pub fn sweep(&self, now_ns: u64) {
        for shard in self.shards.iter() {
            shard.lock().unwrap_or_else(|e| e.into_inner()).sweep(now_ns);
        }
    }

    /// Bounds the keys at `max_keys` from now on (a smaller bound takes no key out: new
    /// ones wait until enough have gone quiet).
    pub fn set_max_keys(&self, max_keys: usize) {
        self.max_per_shard.store(per_shard(max_keys), Ordering::Relaxed);
    }

    /// Converts every key's debt (how far its TAT is ahead of `now_ns`) from one emission
    /// interval to another: the same number of requests ahead. Keys at rest are dropped.
    pub fn convert(&self, now_ns: u64, from_emission_ns: u64, to_emission_ns: u64) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.tats.retain(|_, tat| *tat > now_ns);
            for tat in shard.tats.values_mut() {
                let debt = u128::from(*tat - now_ns) * u128::from(to_emission_ns) / u128::from(from_emission_ns.max(1));
                *tat = now_ns.saturating_add(u64::try_from(debt).unwrap_or(u64::MAX));
            }
        }
    }

    /// Keys held now.
    pub fn keys(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).tats.len()).sum()
    }
}

fn per_shard(max_keys: usize) -> usize {
    (max_keys / SHARDS).max(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_limited_apart_and_passed_ones_are_dropped() {
        let t = Table::new(1_000_000);
        let (a, b) = (1u64 << 60, 2u64 << 60 | 7);
        assert!(matches!(t.check(a, 1_000, 100, 0), Conform::Yes { .. }));
        assert!(matches!(t.check(a, 1_000, 100, 0), Conform::No { .. }));
        assert!(matches!(t.check(b, 1_000, 100, 0), Conform::Yes { .. }), "another key has its own bucket");
        assert_eq!(t.keys(), 2);
        t.sweep(1_100);
        assert_eq!(t.keys(), 0, "both are back at rest");
    }

    #[test]
    fn memory_is_bounded_under_many_keys() {
        let t = Table::new(64 * 16);
        for k in 0..10_000u64 {
            t.check(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1_000, 1_000_000_000, 0);
        }
        assert!(t.keys() <= 64 * 16 && t.untracked.load(Ordering::Relaxed) > 0);
    }
}
