//! The disk tier's thread: it first indexes the files already there (dropping the ones
//! that are truncated or not cache files), then writes, deletes and purges in the order
//! they were asked for, evicting the least recently used files to stay within the size.
//! A write that fails (a full disk) turns the tier to read-only for a while, with a
//! warning: the memory tier keeps serving.
use super::codec::{self, FRAME};
use super::index::Indexed;
use super::shared::{file_of, Shared};
use crate::stored::Entry;
use std::fs;
use std::io::{self, BufReader, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum Job {
    Write {
        key: Arc<str>,
        entry: Arc<Entry>,
        size: u64,
    },
    Delete(Vec<Arc<str>>),
    Purge(Box<dyn Fn(&Indexed) -> bool + Send>),
    /// Answered once every job queued before it is done.
    Flush(std::sync::mpsc::Sender<()>),
}

/// How long writes stay off after one failed.
const DEGRADED_FOR: Duration = Duration::from_secs(30);

pub fn run(shared: &Shared, jobs: Receiver<Job>) {
    scan(shared);
    shared.loaded.store(true, Ordering::Relaxed);
    let mut degraded_since: Option<Instant> = None;
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
        match job {
            Job::Write { key, entry, size } => {
                shared.pending.fetch_sub(size, Ordering::Relaxed);
                if let Err(e) = write(shared, &key, &entry) {
                    shared.index.lock().unwrap().remove(&key);
                    let _ = fs::remove_file(file_of(&shared.dir, &key));
                    if degraded_since.is_none() {
                        tracing::warn!(path = %shared.dir.display(), error = %e,
                            "cache disk write failed; storing in memory only for {}s", DEGRADED_FOR.as_secs());
                    }
                    degraded_since = Some(Instant::now());
                    shared.degraded.store(true, Ordering::Relaxed);
                }
            }
            Job::Delete(keys) => {
                let mut index = shared.index.lock().unwrap();
                keys.iter().for_each(|k| drop(index.remove(k)));
                drop(index);
                delete(shared, &keys);
            }
            Job::Purge(doomed) => {
                let keys = shared.index.lock().unwrap().remove_if(&*doomed);
                delete(shared, &keys);
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
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
    let evicted = index.shrink_to(shared.capacity);
    drop(index);
    shared.evictions.fetch_add(evicted.len() as u64, Ordering::Relaxed);
    delete(shared, &evicted);
    Ok(())
}

fn delete(shared: &Shared, keys: &[Arc<str>]) {
    for key in keys {
        let _ = fs::remove_file(file_of(&shared.dir, key));
    }
}

/// Indexes every sound file under the folder; deletes the rest (partial writes, files cut
/// short, files that are not the cache's).
fn scan(shared: &Shared) {
    let started = Instant::now();
    let Ok(folders) = fs::read_dir(&shared.dir) else { return };
    for folder in folders.flatten().filter(|f| f.file_type().is_ok_and(|t| t.is_dir())) {
        let Ok(files) = fs::read_dir(folder.path()) else { continue };
        for file in files.flatten() {
            let path = file.path();
            if let Err(e) = index_file(shared, &path) {
                tracing::warn!(file = %path.display(), error = %e, "dropping a cache file");
                shared.corrupt.fetch_add(1, Ordering::Relaxed);
                let _ = fs::remove_file(&path);
            }
        }
    }
    let mut index = shared.index.lock().unwrap();
    let evicted = index.shrink_to(shared.capacity);
    let (objects, bytes) = (index.len(), index.bytes);
    drop(index);
    delete(shared, &evicted);
    tracing::info!(path = %shared.dir.display(), objects, bytes, ms = started.elapsed().as_millis() as u64,
        "cache disk loaded");
}

fn index_file(shared: &Shared, path: &Path) -> io::Result<()> {
    let len = fs::metadata(path)?.len();
    if len < FRAME || path.extension().is_some() {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a cache file"));
    }
    let summary = codec::summary(&mut BufReader::new(fs::File::open(path)?), len)?;
    if file_of(&shared.dir, &summary.key) != path {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "in the wrong place"));
    }
    shared.index.lock().unwrap().insert(summary.key, len, summary.url, summary.tags);
    Ok(())
}
