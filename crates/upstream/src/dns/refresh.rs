//! Looking names up again on their TTL, from one thread for the whole process: each name
//! of each group of the running config has a task that sleeps until its answer runs out,
//! asks again, and gives the group its new addresses when they changed.
use super::{Answer, DnsSettings};
use crate::UpstreamGroup;
use hickory_resolver::TokioResolver;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Called after a group's endpoints changed (to follow them with health checks).
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

/// The handle to the DNS thread: tell it which groups the running config has.
pub struct Refresher {
    follow: mpsc::UnboundedSender<(DnsSettings, Vec<Arc<UpstreamGroup>>)>,
}

impl Refresher {
    /// Starts the DNS thread; it looks nothing up until [`Refresher::follow`] is called.
    pub fn start(on_change: OnChange) -> std::io::Result<Refresher> {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new().name("forecourt-dns".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("dns runtime");
            runtime.block_on(run(rx, on_change));
        })?;
        Ok(Refresher { follow: tx })
    }

    /// Follows the names of these groups from now on (after the first start and every
    /// reload), with these settings; the groups of the previous config are let go.
    pub fn follow<'a>(&self, settings: &DnsSettings, groups: impl IntoIterator<Item = &'a Arc<UpstreamGroup>>) {
        let groups: Vec<_> = groups.into_iter().filter(|g| !g.names().is_empty()).cloned().collect();
        let _ = self.follow.send((settings.clone(), groups));
    }
}

async fn run(mut updates: mpsc::UnboundedReceiver<(DnsSettings, Vec<Arc<UpstreamGroup>>)>, on_change: OnChange) {
    let mut watching: Vec<JoinHandle<()>> = Vec::new();
    while let Some((settings, groups)) = updates.recv().await {
        for task in watching.drain(..) {
            task.abort();
        }
        if groups.is_empty() {
            continue;
        }
        let resolver = match settings.resolver() {
            Ok(r) => r,
            Err(why) => {
                tracing::error!("names in upstreams will not be looked up again: {why}");
                continue;
            }
        };
        for group in groups {
            for host in group.names() {
                let watch = watch(settings.clone(), resolver.clone(), group.clone(), host, on_change.clone());
                watching.push(tokio::spawn(watch));
            }
        }
    }
}

/// Looks `host` up for `group` whenever its last answer runs out.
async fn watch(
    settings: DnsSettings,
    resolver: TokioResolver,
    group: Arc<UpstreamGroup>,
    host: String,
    on_change: OnChange,
) {
    loop {
        let next = match settings.lookup(&resolver, &host).await {
            Answer::Addresses(addrs, next) => {
                let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                if group.update_name(&host, addrs) {
                    tracing::info!(upstream = %group.name, name = %host, addresses = %shown.join(" "), "DNS answer changed");
                    on_change();
                }
                next
            }
            Answer::Failed(why) => {
                tracing::warn!(upstream = %group.name, name = %host, "DNS lookup failed, keeping the last addresses: {why}");
                Instant::now() + settings.retry_after()
            }
        };
        tokio::time::sleep_until(next.into()).await;
    }
}
