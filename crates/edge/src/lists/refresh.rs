//! The thread that keeps feeds fresh: once a second it fetches the feeds that are due (on
//! a runtime of its own, so a slow feed server never touches a worker) and has every
//! running list catch up with its feed's latest copy.
use super::feed::Fetched;
use super::list::IpList;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The running lists each time it is asked, or `None` once the process's lists are gone
/// (the thread ends).
pub type Running = Box<dyn Fn() -> Option<Vec<Arc<IpList>>> + Send>;

pub fn start(running: Running) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("list-feeds".into()).spawn(move || {
        runtime.block_on(async move {
            loop {
                let Some(lists) = running() else { return };
                for list in lists {
                    let Some(feed) = list.feed.clone() else { continue };
                    if feed.due(Instant::now()) {
                        match feed.fetch().await {
                            Ok(Fetched::Updated(n)) => {
                                tracing::info!(list = %list.name, url = %feed.url, entries = n, "list feed loaded")
                            }
                            Ok(Fetched::Unchanged) => {}
                            Err(why) => {
                                let kept = list.set().len();
                                tracing::warn!(list = %list.name, url = %feed.url, ranges_kept = kept,
                                    "list feed could not be loaded, keeping the last good copy: {why}");
                            }
                        }
                    }
                    list.catch_up();
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    })?;
    Ok(())
}
