//! A store taking another's place. A reload that changes the cache's bounds makes a new
//! store (moka fixes a memory tier's capacity when it is built, so it cannot be resized in
//! place), and the new one is filled with the old one's objects on a thread of its own,
//! while the workers already serve from it: the reload does not wait for the copy, and the
//! cache is not emptied onto the origin. While the copy runs the two are linked: a purge
//! made on either is made on both, the older first, so that no purged object is copied
//! back (`Store::everywhere`). The old store keeps its link to the new one for as long as
//! requests of the config before may still purge it.
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};

/// What a store is to those before and after it.
pub trait Linked: Sized + Send + Sync + 'static {
    fn lineage(&self) -> &Lineage<Self>;
}

/// A store's links to the one it copies from and to the one that took its place.
pub struct Lineage<S> {
    /// The store that took this one's place, while it lives.
    successor: OnceLock<Weak<S>>,
    /// The store this one copies from, until the copy ends.
    predecessor: Mutex<Option<Arc<S>>>,
    copied: Condvar,
}

impl<S> Default for Lineage<S> {
    fn default() -> Self {
        Lineage { successor: OnceLock::new(), predecessor: Mutex::new(None), copied: Condvar::new() }
    }
}

impl<S: Linked> Lineage<S> {
    /// The stores this one still copies from, the oldest first (a reload during a copy
    /// makes a chain of them).
    pub fn older(&self) -> Vec<Arc<S>> {
        let mut chain = Vec::new();
        let mut next = self.predecessor.lock().unwrap().clone();
        while let Some(store) = next {
            next = store.lineage().predecessor.lock().unwrap().clone();
            chain.push(store);
        }
        chain.reverse();
        chain
    }

    /// The stores that took this one's place, the oldest first.
    pub fn newer(&self) -> Vec<Arc<S>> {
        let mut chain = Vec::new();
        let mut next = self.successor.get().and_then(Weak::upgrade);
        while let Some(store) = next {
            next = store.lineage().successor.get().and_then(Weak::upgrade);
            chain.push(store);
        }
        chain
    }

    /// Waits until this store has copied what it takes over.
    pub fn wait_copied(&self) {
        drop(self.copied.wait_while(self.predecessor.lock().unwrap(), |p| p.is_some()).unwrap());
    }

    fn copy_ended(&self) {
        *self.predecessor.lock().unwrap() = None;
        self.copied.notify_all();
    }
}

/// Links `new` to `old`, whose place it takes, and runs `copy(new, old)` on a thread of its
/// own, after any copy into `old` still running (a reload during a copy), then unlinks
/// `old` as a source. Where no thread can be started, nothing is copied.
pub fn take_place<S: Linked>(new: &Arc<S>, old: &Arc<S>, copy: impl FnOnce(&S, &S) + Send + 'static) {
    let _ = old.lineage().successor.set(Arc::downgrade(new));
    *new.lineage().predecessor.lock().unwrap() = Some(old.clone());
    let (into, from) = (new.clone(), old.clone());
    let copying = std::thread::Builder::new().name("cache-takeover".into()).spawn(move || {
        from.lineage().wait_copied();
        copy(&into, &from);
        into.lineage().copy_ended();
    });
    if let Err(e) = copying {
        tracing::warn!(error = %e, "cannot start the cache's takeover: the new memory tier starts empty");
        new.lineage().copy_ended();
    }
}
