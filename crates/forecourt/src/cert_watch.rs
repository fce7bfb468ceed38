//! Certificate files that change on disk (a renewal by certbot, a new secret mounted) are
//! loaded again without a reload. Every second a thread looks at the files of the running
//! config's certificates; once a change has settled (the same for a second, so that a
//! certificate and key written one after the other are read together) it loads them all
//! and swaps the new table into the running TLS configuration, for new handshakes. A pair
//! that does not load is refused with a log line, and the certificates in use keep serving.
//!
//! Polling rather than inotify: a stat follows symlinks, so it sees the symlink swaps that
//! certbot and Kubernetes secrets make, which a watch on the path misses.
use arc_swap::ArcSwap;
use forecourt_proxy::Runtime;
use forecourt_tls::{load_table, CertSource, FileStamp};
use std::sync::Arc;
use std::time::Duration;

type Stamp = Vec<FileStamp>;

/// What the watcher knows about the certificates of one snapshot.
struct Watched {
    /// Which snapshot's certificate table (its address).
    table: usize,
    /// The files as last loaded.
    loaded: Stamp,
    /// The files as last seen, when they differ from `loaded`.
    changing: Option<Stamp>,
}

pub fn start(runtime: Arc<ArcSwap<Runtime>>) -> std::io::Result<()> {
    std::thread::Builder::new().name("forecourt-certs".into()).spawn(move || {
        let mut watched: Option<Watched> = None;
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let rt = runtime.load_full();
            let Some(tls) = &rt.tls else {
                watched = None;
                continue;
            };
            let stamp: Stamp = tls.sources.iter().flat_map(CertSource::stamp).collect();
            let table = Arc::as_ptr(&tls.certs) as usize;
            let w = match &mut watched {
                Some(w) if w.table == table => w,
                // A new snapshot: its certificates were loaded from the files as they were then.
                _ => watched.insert(Watched { table, loaded: tls.stamps.clone(), changing: None }),
            };
            if stamp == w.loaded {
                w.changing = None;
                continue;
            }
            if w.changing.as_ref() != Some(&stamp) {
                w.changing = Some(stamp);
                continue;
            }
            match load_table(&tls.sources) {
                Ok(table) => {
                    tls.certs.replace(table);
                    tracing::info!("certificate files changed; new handshakes use them");
                }
                Err(why) => tracing::error!(
                    "certificate files changed but cannot be used, still serving the previous certificates: {why}"
                ),
            }
            w.loaded = stamp;
            w.changing = None;
        }
    })?;
    Ok(())
}
