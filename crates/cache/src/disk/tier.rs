//! The disk tier: one file per key under `path`, written behind the memory tier by a
//! thread of its own (a request never waits for a write), read back when the memory tier
//! misses, and found again at startup, so that what was stored survives restarts.
//!
//! A read is a plain blocking `read` on the worker (a hit from the page cache costs what a
//! copy costs; nginx without `aio` does the same). A file that is truncated, fails its
//! checksum or holds another key is deleted and counted, never served.
use super::codec;
use super::index::Pick;
use super::shared::{file_of, Expiry, Shared};
use super::writer::{self, Job};
use crate::stored::Entry;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::{fs, io};

/// `[cache] disk = { path, size }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskConfig {
    pub path: PathBuf,
    pub size: u64,
}

/// Writes waiting for the thread may hold at most this many bytes; beyond it a write is
/// dropped (the memory tier still has the object) rather than memory growing.
const MAX_PENDING: u64 = 64 << 20;

pub struct DiskTier {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<Job>,
}

/// Bytes, objects, bound and evictions of a tier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TierUsage {
    pub bytes: u64,
    pub objects: u64,
    pub bound: u64,
    pub evictions: u64,
}

impl DiskTier {
    /// Whether a tier could be opened at `dir`, making and writing nothing (for `check`,
    /// which may run as another user than the server: a folder it made would be its
    /// own): `dir`, or the nearest folder above it that exists, is a folder this process
    /// may write in.
    pub fn check_usable(dir: &Path) -> io::Result<()> {
        let mut at = dir;
        loop {
            match fs::metadata(at) {
                Ok(m) if m.is_dir() => break,
                Ok(_) => return Err(io::Error::other(format!("`{}` is not a folder", at.display()))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    at = at.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                }
                Err(e) => return Err(e),
            }
        }
        let path = std::ffi::CString::new(at.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
        // SAFETY: access(2) on a NUL-terminated path we own.
        match unsafe { libc::access(path.as_ptr(), libc::W_OK | libc::X_OK) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// Opens the tier at `config.path` and starts it (`prepare`, then `start`).
    pub fn open(config: &DiskConfig) -> io::Result<DiskTier> {
        let tier = DiskTier::prepare(config)?;
        tier.start();
        Ok(tier)
    }

    /// Makes the folder (if need be), proves a file can be written there, and readies the
    /// thread that will index what is there and write what comes, which touches nothing
    /// in the folder until `start`: a config that opened the tier and was then refused
    /// leaves the folder as the running config's tier has it.
    pub fn prepare(config: &DiskConfig) -> io::Result<DiskTier> {
        let dir = config.path.clone();
        fs::create_dir_all(&dir)?;
        let probe = dir.join(".probe");
        fs::write(&probe, b"forecourt")?;
        fs::remove_file(&probe)?;
        let shared = Arc::new(Shared {
            dir,
            capacity: AtomicU64::new(config.size),
            index: Mutex::default(),
            pending: AtomicU64::new(0),
            loaded: AtomicBool::new(false),
            degraded: AtomicBool::new(false),
            evictions: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            corrupt: AtomicU64::new(0),
            expiring: Mutex::default(),
            expiries: AtomicU64::new(0),
        });
        let (jobs, queue) = mpsc::channel();
        let thread = shared.clone();
        std::thread::Builder::new().name("cache-disk".into()).spawn(move || writer::run(&thread, queue))?;
        Ok(DiskTier { shared, jobs })
    }

    /// Lets the thread index the files there and do what was queued (once; again is
    /// nothing).
    pub fn start(&self) {
        let _ = self.jobs.send(Job::Start);
    }

    /// Bounds the files to `size` bytes from now on, evicting the least recently used
    /// down to it (a reload that changes `size`: the tier, its index and its thread are
    /// kept).
    pub fn resize(&self, size: u64) {
        let _ = self.jobs.send(Job::Resize(size));
    }

    /// The entry of `key`, if a sound file holds it.
    pub fn get(&self, key: &str) -> Option<Entry> {
        if !self.shared.index.lock().unwrap().touch(key) {
            return None;
        }
        let path = file_of(&self.shared.dir, key);
        let read = fs::read(&path).and_then(|file| codec::decode(&file));
        match read {
            Ok((summary, entry)) if &*summary.key == key => {
                let expiry = self.shared.expiring.lock().unwrap().get(key).copied();
                Some(expiry.and_then(|e| entry.expired(e.at)).unwrap_or(entry))
            }
            // Another key with the same file name replaced it: not this key's any more.
            Ok(_) => {
                self.shared.index.lock().unwrap().remove(key);
                None
            }
            // Evicted or purged between the index and the read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "dropping a corrupt cache file");
                self.shared.corrupt.fetch_add(1, Ordering::Relaxed);
                self.shared.index.lock().unwrap().remove(key);
                let _ = self.jobs.send(Job::Delete(vec![key.into()]));
                None
            }
        }
    }

    /// Queues `entry` to be written as `key`'s file.
    pub fn put(&self, key: Arc<str>, entry: Arc<Entry>) {
        let size = entry.weight() as u64;
        let s = &self.shared;
        if size > s.capacity.load(Ordering::Relaxed)
            || s.degraded.load(Ordering::Relaxed)
            || s.pending.load(Ordering::Relaxed) > MAX_PENDING
        {
            s.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        s.pending.fetch_add(size, Ordering::Relaxed);
        let _ = self.jobs.send(Job::Write { key, entry, size });
    }

    /// Removes what `pick` picks, now from the index (so no read finds it), then its files
    /// on the thread, and again what it picks there after the writes queued before it (one
    /// of them may be picked too). A URL's keys and a tag's are found without a scan of the
    /// index (`Pick`). The keys the index held.
    pub fn remove(&self, pick: Pick) -> Vec<Arc<str>> {
        let keys = self.shared.index.lock().unwrap().remove_picked(&pick);
        let _ = self.jobs.send(Job::Delete(keys.clone()));
        let _ = self.jobs.send(Job::Purge(pick));
        keys
    }

    /// Makes what `pick` picks stale at `at` (a soft purge): for reads at once (a picked
    /// key read before its file is rewritten comes back stale), and in the files on the
    /// thread, after the writes queued before it. The keys the index held.
    pub fn expire(&self, pick: Pick, at: u64) -> Vec<Arc<str>> {
        let expiry = Expiry { id: self.shared.expiries.fetch_add(1, Ordering::Relaxed), at };
        let keys = self.shared.index.lock().unwrap().keys(&pick);
        let mut expiring = self.shared.expiring.lock().unwrap();
        for key in &keys {
            expiring.insert(key.clone(), expiry);
        }
        drop(expiring);
        let _ = self.jobs.send(Job::Expire(pick, expiry));
        keys
    }

    /// Waits (at most `within`) until the jobs queued so far are done: a purge's files
    /// deleted, so that a restart right after cannot bring them back. Whether they are.
    pub fn settle(&self, within: std::time::Duration) -> bool {
        let (done, settled) = std::sync::mpsc::channel();
        self.jobs.send(Job::Flush(done)).is_ok() && settled.recv_timeout(within).is_ok()
    }

    pub fn usage(&self) -> TierUsage {
        let index = self.shared.index.lock().unwrap();
        TierUsage {
            bytes: index.bytes,
            objects: index.len() as u64,
            bound: self.shared.capacity.load(Ordering::Relaxed),
            evictions: self.shared.evictions.load(Ordering::Relaxed),
        }
    }

    /// Files found corrupt, writes dropped, whether the startup scan is done and whether
    /// writes are failing.
    pub fn health(&self) -> (u64, u64, bool, bool) {
        let s = &self.shared;
        (
            s.corrupt.load(Ordering::Relaxed),
            s.dropped.load(Ordering::Relaxed),
            s.loaded.load(Ordering::Relaxed),
            s.degraded.load(Ordering::Relaxed),
        )
    }

    pub fn path(&self) -> &Path {
        &self.shared.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::now;
    use std::time::Duration;

    #[test]
    fn a_folder_is_checked_usable_without_being_made() {
        let dir = std::env::temp_dir().join(format!("fc-disk-usable-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let wanted = dir.join("a").join("b");
        DiskTier::check_usable(&wanted).unwrap();
        assert!(!dir.join("a").exists(), "nothing made");
        let file = dir.join("plain");
        fs::write(&file, "not a folder").unwrap();
        assert!(DiskTier::check_usable(&file).unwrap_err().to_string().contains("is not a folder"));
        let below = DiskTier::check_usable(&file.join("cache")).unwrap_err();
        assert!(below.to_string().contains("Not a directory"), "{below}");
        DiskTier::check_usable(Path::new("relative-and-missing")).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_urls_files_go_by_their_keys_whatever_the_keys() {
        let dir = std::env::temp_dir().join(format!("fc-disk-url-{}", std::process::id()));
        let tier = DiskTier::open(&DiskConfig { path: dir.clone(), size: 1 << 20 }).unwrap();
        let entry = Arc::new(codec::tests::entry_at(now()));
        let (url, part, tenant) = ("http://a/x", "http://a/x\npart", "http://a/x\nh:x-tenant=a,");
        for key in [url, part, tenant] {
            tier.put(key.into(), entry.clone());
        }
        let other = codec::tests::entry_at(now());
        tier.put("http://a/xy".into(), Arc::new(Entry { url: "http://a/xy".into(), ..other }));
        assert!(tier.settle(Duration::from_secs(5)));
        let mut removed = tier.remove(Pick::Url(url.into()));
        removed.sort();
        assert_eq!(removed, [Arc::from(url), Arc::from(tenant), Arc::from(part)], "by their keys");
        // Written after the removal was asked for, before the thread got to it: gone too.
        tier.put(tenant.into(), entry.clone());
        tier.remove(Pick::Url(url.into()));
        assert!(tier.settle(Duration::from_secs(5)));
        for key in [url, part, tenant] {
            assert!(tier.get(key).is_none() && !file_of(&dir, key).exists(), "{key}");
        }
        assert!(tier.get("http://a/xy").is_some(), "another URL stays");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_soft_purge_reads_stale_at_once_and_rewrites_the_file() {
        let dir = std::env::temp_dir().join(format!("fc-disk-tier-{}", std::process::id()));
        let tier = DiskTier::open(&DiskConfig { path: dir.clone(), size: 1 << 20 }).unwrap();
        let t = now();
        tier.put("k".into(), Arc::new(codec::tests::entry_at(t)));
        assert!(tier.settle(Duration::from_secs(5)));
        let fresh = |tier: &DiskTier| tier.get("k").unwrap().variants[0].ttl(t) > 0;
        assert!(fresh(&tier));
        // Marked by a soft purge whose rewrite has not run yet: read stale all the same.
        tier.shared.expiring.lock().unwrap().insert("k".into(), Expiry { id: 99, at: t });
        assert!(!fresh(&tier));
        tier.shared.expiring.lock().unwrap().clear();
        assert!(fresh(&tier), "the file itself is still fresh");
        // The soft purge: marked, then the file rewritten and the mark dropped.
        tier.expire(Pick::If(Box::new(|e| &*e.url == "http://a/x")), t);
        assert!(tier.settle(Duration::from_secs(5)));
        assert!(tier.shared.expiring.lock().unwrap().is_empty());
        assert!(!fresh(&tier), "the file rewritten stale");
        let _ = std::fs::remove_dir_all(dir);
    }
}
