//! What the disk tier and its writing thread share: the folder, the index and the
//! counters, and where a key's file lives.
use super::index::Index;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

/// What the tier and its thread share.
pub struct Shared {
    pub dir: PathBuf,
    /// Bytes the files may take (`size`; a reload may change it: `DiskTier::resize`).
    pub capacity: AtomicU64,
    pub index: Mutex<Index>,
    /// Bytes of writes queued.
    pub pending: AtomicU64,
    /// Set once the files there at startup are indexed.
    pub loaded: AtomicBool,
    /// Set while writes fail (a full disk): the tier serves what it has and stores nothing.
    pub degraded: AtomicBool,
    pub evictions: AtomicU64,
    pub dropped: AtomicU64,
    pub corrupt: AtomicU64,
    /// Keys a soft purge made stale whose files the thread has not rewritten yet: a read
    /// makes them stale as it reads them.
    pub expiring: Mutex<HashMap<Arc<str>, Expiry>>,
    /// The soft purges so far, which number them.
    pub expiries: AtomicU64,
}

/// One soft purge: which one, and when it made what it picked stale (Unix seconds).
#[derive(Clone, Copy, Debug)]
pub struct Expiry {
    pub id: u64,
    pub at: u64,
}

/// Where `key`'s file is: a name from its hash, in one of 256 folders (nginx's `levels`),
/// so that no folder grows huge. Two keys may share a name; the file says whose it is.
pub fn file_of(dir: &Path, key: &str) -> PathBuf {
    // FNV-1a: stable across builds, so files written by one release are found by the next.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    dir.join(format!("{:02x}", hash >> 56)).join(format!("{hash:016x}"))
}
