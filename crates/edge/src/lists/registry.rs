//! The lists of the running config, for `/metrics` and the feed thread (the config
//! compiles them; this holds them once it has compiled whole), and their feeds, which a
//! reload that keeps a list's URL takes over, and a start takes from disk.
use super::feed::Feed;
use super::list::IpList;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Lists {
    lists: Mutex<Vec<Arc<IpList>>>,
    refresher: Mutex<bool>,
}

impl Lists {
    pub fn commit(self: &Arc<Self>, lists: Vec<Arc<IpList>>) {
        let feeds = lists.iter().any(|l| l.feed.is_some());
        *self.lists.lock().unwrap() = lists;
        let mut started = self.refresher.lock().unwrap();
        if feeds && !*started {
            let me = Arc::downgrade(self);
            match super::refresh::start(Box::new(move || me.upgrade().map(|lists| lists.all()))) {
                Ok(()) => *started = true,
                Err(e) => tracing::error!("cannot start the list feed thread: {e}"),
            }
        }
    }

    pub fn all(&self) -> Vec<Arc<IpList>> {
        self.lists.lock().unwrap().clone()
    }

    /// List `name`'s feed as the running config has it: kept when a reload fetches the
    /// same (`Feed::same_as`), continued from when it fetches the same URL otherwise, and
    /// otherwise started from the copy on disk.
    pub fn feed_for(&self, name: &str, new: Feed) -> Arc<Feed> {
        let running = self.lists.lock().unwrap().iter().find(|l| l.name == name).and_then(|l| l.feed.clone());
        match running {
            Some(running) if running.same_as(&new) => running,
            Some(running) if running.url == new.url => Arc::new(new.continuing(&running)),
            _ => Arc::new(new.from_kept_copy()),
        }
    }
}
