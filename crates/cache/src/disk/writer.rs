//! The disk tier's thread: it first indexes the files already there (dropping the ones
//! that are truncated or not cache files), then writes, deletes and purges in the order
//! they were asked for, evicting the least recently used files to stay within the size.
//! A write that fails (a full disk) turns the tier to read-only for a while, with a
//! warning: the memory tier keeps serving.
use super::codec::{self, FRAME};
use super::index::Pick;
use super::shared::{file_of, Expiry, Shared};
use crate::stored::Entry;
use std::fs;
use std::io::{self, BufReader, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum Job {
    /// The config that opened the tier is the process's now: the thread may touch the
    /// folder (`DiskTier::start`).
    Start,
    Write {
        key: Arc<str>,
        entry: Arc<Entry>,
        size: u64,
    },
    Delete(Vec<Arc<str>>),
    Purge(Pick),
    /// A soft purge: the files it picks rewritten stale.
    Expire(Pick, Expiry),
    /// A new bound: the least recently used files evicted down to it.
    Resize(u64),
    /// Answered once every job queued before it is done.
    Flush(std::sync::mpsc::Sender<()>),
}

/// How long writes stay off after one failed.
const DEGRADED_FOR: Duration = Duration::from_secs(30);

pub fn run(shared: &Shared, jobs: Receiver<Job>) {
    // Nothing under the folder is read, written or deleted until the tier is started: a
    // reload refused for an error anywhere in its file drops the tier it opened unstarted,
    // where its scan would have evicted the running tier's files down to its own size.
    let mut early = Vec::new();
    loop {
        match jobs.recv() {
            Ok(Job::Start) => break,
            Ok(job) => early.push(job),
            Err(_) => return,
        }
    }
    scan(shared);
    shared.loaded.store(true, Ordering::Relaxed);
    let mut degraded_since: Option<Instant> = None;
    for job in early {
        handle(shared, job, &mut degraded_since);
    }
    loop {
        let job = match jobs.recv_timeout(Duration::from_secs(1)) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                if degraded_since.is_some_and(|t| t.elapsed() >= DEGRADED_FOR) {
                    degraded_since = None;
                    shared.degraded.store(false, Ordering::Relaxed);
                    tracing::info!(path = %shared.dir.display(), "cache disk writable again");
                }
                continue;
            }
            // The store is gone (a reload replaced it): so is this thread.
            Err(RecvTimeoutError::Disconnected) => return,
        };
        handle(shared, job, &mut degraded_since);
    }
}

/// Does one job; `degraded_since` is when writes last failed (they stay off a while).
fn handle(shared: &Shared, job: Job, degraded_since: &mut Option<Instant>) {
    match job {
        Job::Start => {}
        Job::Write { key, entry, size } => {
            shared.pending.fetch_sub(size, Ordering::Relaxed);
            if let Err(e) = write(shared, &key, &entry) {
                shared.index.lock().unwrap().remove(&key);
                let _ = fs::remove_file(file_of(&shared.dir, &key));
                if degraded_since.is_none() {
                    tracing::warn!(path = %shared.dir.display(), error = %e,
                        "cache disk write failed; storing in memory only for {}s", DEGRADED_FOR.as_secs());
                }
                *degraded_since = Some(Instant::now());
                shared.degraded.store(true, Ordering::Relaxed);
            }
        }
        Job::Delete(keys) => {
            let mut index = shared.index.lock().unwrap();
            keys.iter().for_each(|k| drop(index.remove(k)));
            drop(index);
            delete(shared, &keys);
        }
        Job::Purge(pick) => {
            let keys = shared.index.lock().unwrap().remove_picked(&pick);
            delete(shared, &keys);
        }
        Job::Expire(pick, expiry) => {
            let keys = shared.index.lock().unwrap().keys(&pick);
            keys.iter().for_each(|key| expire(shared, key, expiry.at));
            shared.expiring.lock().unwrap().retain(|_, e| e.id != expiry.id);
        }
        Job::Resize(size) => {
            shared.capacity.store(size, Ordering::Relaxed);
            let evicted = shared.index.lock().unwrap().shrink_to(size);
            shared.evictions.fetch_add(evicted.len() as u64, Ordering::Relaxed);
            delete(shared, &evicted);
        }
        Job::Flush(done) => {
            let _ = done.send(());
        }
    }
}

fn write(shared: &Shared, key: &Arc<str>, entry: &Entry) -> io::Result<()> {
    let file = codec::encode(key, entry);
    let path = file_of(&shared.dir, key);
    let folder = path.parent().expect("a file has a folder");
    fs::create_dir_all(folder)?;
    // Written aside and renamed: a reader or a crash sees the old file or the new, whole.
    let partial = path.with_extension("partial");
    let written = fs::File::create(&partial).and_then(|mut f| f.write_all(&file));
    if let Err(e) = written.and_then(|()| fs::rename(&partial, &path)) {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    let tags = entry.variants.iter().flat_map(|v| v.tags.iter().cloned()).collect();
    let mut index = shared.index.lock().unwrap();
    index.insert(key.clone(), file.len() as u64, entry.url.clone(), tags);
    let evicted = index.shrink_to(shared.capacity.load(Ordering::Relaxed));
    drop(index);
    shared.evictions.fetch_add(evicted.len() as u64, Ordering::Relaxed);
    delete(shared, &evicted);
    Ok(())
}

/// Rewrites `key`'s file with its responses made stale at `at`. A file that cannot be read
/// or rewritten is deleted: left as it was, it would be served fresh again.
fn expire(shared: &Shared, key: &Arc<str>, at: u64) {
    let path = file_of(&shared.dir, key);
    let rewritten = match fs::read(&path).and_then(|file| codec::decode(&file)) {
        Ok((summary, entry)) if summary.key == *key => match entry.expired(at) {
            Some(expired) => write(shared, key, &expired),
            None => Ok(()),
        },
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = rewritten {
        tracing::warn!(file = %path.display(), error = %e, "a soft purge could not rewrite a cache file; deleted it");
        shared.index.lock().unwrap().remove(key);
        let _ = fs::remove_file(&path);
    }
}

fn delete(shared: &Shared, keys: &[Arc<str>]) {
    for key in keys {
        let _ = fs::remove_file(file_of(&shared.dir, key));
    }
}

/// Indexes every sound file under the folder and deletes the cache's own that are not
/// (partial writes, files cut short or damaged). Only names of the cache's layout are
/// looked at, and only files that say they are the cache's deleted: a folder given by
/// mistake (`path = ".."`, `/var/lib`) loses nothing, where nginx's loader deletes every
/// file there it cannot read as its own.
fn scan(shared: &Shared) {
    let started = Instant::now();
    let Ok(entries) = fs::read_dir(&shared.dir) else { return };
    let mut foreign = Vec::new();
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !(is_dir && is_hex(&entry.file_name(), 2)) {
            foreign.push(entry.file_name());
            continue;
        }
        let Ok(files) = fs::read_dir(entry.path()) else { continue };
        for file in files.flatten() {
            let path = file.path();
            let name = file.file_name();
            let partial = path.extension().is_some_and(|e| e == "partial");
            let stem = if partial { path.file_stem().unwrap_or_default() } else { &name };
            let relative = || path.strip_prefix(&shared.dir).unwrap_or(&path).as_os_str().to_owned();
            if !is_hex(stem, 16) {
                foreign.push(relative());
                continue;
            }
            let indexed = match partial {
                true => Err(io::Error::new(io::ErrorKind::InvalidData, "a write cut short")),
                false => index_file(shared, &path),
            };
            match indexed {
                Ok(()) => {}
                Err(why) if codec::is_ours(&path) => {
                    tracing::warn!(file = %path.display(), error = %why, "dropping a cache file");
                    shared.corrupt.fetch_add(1, Ordering::Relaxed);
                    let _ = fs::remove_file(&path);
                }
                Err(_) => foreign.push(relative()),
            }
        }
    }
    if !foreign.is_empty() {
        let some: Vec<_> = foreign.iter().take(3).map(|n| n.to_string_lossy()).collect();
        tracing::warn!(path = %shared.dir.display(), count = foreign.len(), first = some.join(", "),
            "the cache's disk folder holds files that are not the cache's; they are left alone \
             (give the cache a folder of its own)");
    }
    let mut index = shared.index.lock().unwrap();
    let evicted = index.shrink_to(shared.capacity.load(Ordering::Relaxed));
    let (objects, bytes) = (index.len(), index.bytes);
    drop(index);
    delete(shared, &evicted);
    tracing::info!(path = %shared.dir.display(), objects, bytes, ms = started.elapsed().as_millis() as u64,
        "cache disk loaded");
}

/// Whether `name` is `digits` lowercase hexadecimal digits, as the cache names its
/// folders (2) and files (16) (`file_of`).
fn is_hex(name: &std::ffi::OsStr, digits: usize) -> bool {
    name.to_str().is_some_and(|n| n.len() == digits && n.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

fn index_file(shared: &Shared, path: &Path) -> io::Result<()> {
    let len = fs::metadata(path)?.len();
    if len < FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "cut short"));
    }
    let summary = codec::summary(&mut BufReader::new(fs::File::open(path)?), len)?;
    if file_of(&shared.dir, &summary.key) != path {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "in the wrong place"));
    }
    shared.index.lock().unwrap().insert(summary.key, len, summary.url, summary.tags);
    Ok(())
}
