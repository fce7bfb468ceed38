//! The lists of the running config, for `/metrics` and the feed thread (the config
//! compiles them; this holds them once it has compiled whole), and their feeds, which a
//! reload that keeps a list's URL takes over.
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

    /// The running feed of list `name`, when it is the same URL, refresh and format.
    pub fn running_feed(&self, name: &str, like: &Feed) -> Option<Arc<Feed>> {
        let lists = self.lists.lock().unwrap();
        let feed = lists.iter().find(|l| l.name == name)?.feed.clone()?;
        (feed.url == like.url && feed.refresh == like.refresh && feed.format == like.format).then_some(feed)
    }
}
