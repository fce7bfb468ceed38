//! Open connections of one listener, in all and per client address, counted up at accept
//! and down when the connection ends (its `Open` guard is dropped). Shared by every worker
//! and kept across reloads, so that a reload does not forget who is connected.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;

#[derive(Default)]
pub struct OpenCounts {
    total: AtomicU64,
    per_ip: [Mutex<HashMap<u128, u32>>; SHARDS],
}

/// One admitted connection: counted while it lives.
pub struct Open {
    counts: Arc<OpenCounts>,
    /// The client's key, when per-address counting is on.
    key: Option<u128>,
}

impl OpenCounts {
    fn shard(&self, key: u128) -> std::sync::MutexGuard<'_, HashMap<u128, u32>> {
        let i = (key ^ (key >> 64)) as usize % SHARDS;
        self.per_ip[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new connection from `key` (when given) if the listener stays within `max`
    /// open in all and `max_per_key` per key; which bound refused it otherwise.
    pub fn open(self: &Arc<Self>, key: Option<u128>, max: u64, max_per_key: u32) -> Result<Open, Bound> {
        if self.total.fetch_add(1, Ordering::Relaxed) >= max {
            self.total.fetch_sub(1, Ordering::Relaxed);
            return Err(Bound::Total);
        }
        if let Some(k) = key {
            let mut shard = self.shard(k);
            let n = shard.entry(k).or_insert(0);
            if *n >= max_per_key {
                drop(shard);
                self.total.fetch_sub(1, Ordering::Relaxed);
                return Err(Bound::PerKey);
            }
            *n += 1;
        }
        Ok(Open { counts: self.clone(), key })
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Bound {
    Total,
    PerKey,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(k) = self.key {
            let mut shard = self.counts.shard(k);
            if let Some(n) = shard.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    shard.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_go_up_at_open_and_down_at_close() {
        let c = Arc::new(OpenCounts::default());
        let a1 = c.open(Some(1), 3, 2).unwrap();
        let a2 = c.open(Some(1), 3, 2).unwrap();
        assert_eq!(c.open(Some(1), 3, 2).err(), Some(Bound::PerKey));
        let b = c.open(Some(2), 3, 2).unwrap();
        assert_eq!(c.open(Some(3), 3, 2).err(), Some(Bound::Total));
        drop(a1);
        assert!(c.open(Some(1), 3, 2).is_ok(), "a closed connection frees its place");
        drop((a2, b));
        assert_eq!(c.total(), 0);
        assert!(c.shard(1).is_empty() && c.shard(2).is_empty());
    }
}

/// Every listener's open counts, by address: a reload that keeps a listener keeps them.
#[derive(Default)]
pub struct OpenByListener(Mutex<std::collections::BTreeMap<std::net::SocketAddr, Arc<OpenCounts>>>);

impl OpenByListener {
    pub fn of(&self, listener: std::net::SocketAddr) -> Arc<OpenCounts> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).entry(listener).or_default().clone()
    }
}
