//! Active health checks: every server of an upstream with a `[upstream.NAME.health]` table
//! is probed on an interval, from one thread for the whole process (not once per worker).
//! `fall` failures in a row take a server out (`DOWN`); `rise` successes bring it back,
//! with slow start. A server that an active check has seen fail and then recover is also
//! readmitted early if passive checks ejected it.
mod probe;

pub use probe::{HttpProbe, Probe};

use crate::state::{flag, now_ns, CheckReport, EndpointState};
use crate::tls::EndpointTls;
use crate::UpstreamGroup;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// `[upstream.NAME.health]`.
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheck {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    /// Successes in a row that bring a server back.
    pub rise: u32,
    /// Failures in a row that take it out.
    pub fall: u32,
}

/// One server to probe.
#[derive(Clone)]
struct Target {
    upstream: String,
    label: String,
    addr: SocketAddr,
    check: HealthCheck,
    slow_start: Duration,
    state: Arc<EndpointState>,
    /// For `https://` servers.
    tls: Option<EndpointTls>,
}

impl Target {
    fn same_probe(&self, other: &Target) -> bool {
        let same_tls = match (&self.tls, &other.tls) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(&a.upstream, &b.upstream) && a.name == b.name,
            _ => false,
        };
        self.addr == other.addr && self.check == other.check && self.slow_start == other.slow_start && same_tls
    }
}

/// The handle to the checker thread: tell it which upstreams the running config has.
pub struct Checker {
    targets: mpsc::UnboundedSender<Vec<Target>>,
}

impl Checker {
    /// Starts the checker thread; it probes nothing until [`Checker::follow`] is called.
    pub fn start() -> std::io::Result<Checker> {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new().name("forecourt-health".into()).spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("health runtime");
            runtime.block_on(run(rx));
        })?;
        Ok(Checker { targets: tx })
    }

    /// Probes the servers of these groups from now on (after the first start and every
    /// reload): new servers are probed, removed ones no longer, unchanged ones keep their
    /// probe and its count of successes and failures.
    pub fn follow<'a>(&self, groups: impl IntoIterator<Item = &'a Arc<UpstreamGroup>>) {
        let mut targets = Vec::new();
        for group in groups {
            let Some(check) = &group.policies.health else { continue };
            for ep in &group.members().endpoints {
                targets.push(Target {
                    upstream: group.name.clone(),
                    label: ep.label.clone(),
                    addr: ep.addr,
                    check: check.clone(),
                    slow_start: group.policies.slow_start,
                    state: ep.state.clone(),
                    tls: ep.tls.clone(),
                });
            }
        }
        let _ = self.targets.send(targets);
    }
}

async fn run(mut updates: mpsc::UnboundedReceiver<Vec<Target>>) {
    let mut running: HashMap<(String, String), (Target, JoinHandle<()>)> = HashMap::new();
    while let Some(targets) = updates.recv().await {
        let mut next = HashMap::new();
        for target in targets {
            let key = (target.upstream.clone(), target.label.clone());
            match running.remove(&key) {
                Some((old, task)) if old.same_probe(&target) => {
                    next.insert(key, (old, task));
                }
                previous => {
                    if let Some((_, task)) = previous {
                        task.abort();
                    }
                    let task = tokio::spawn(watch(target.clone()));
                    next.insert(key, (target, task));
                }
            }
        }
        // Servers no longer checked: their probe stops, and no check holds them out.
        for (_, (target, task)) in running.drain() {
            task.abort();
            target.state.clear_flag(flag::DOWN);
        }
        running = next;
    }
}

/// Probes one server for as long as it is configured.
async fn watch(t: Target) {
    let mut ticker = tokio::time::interval(t.check.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut successes, mut failures) = (0u32, 0u32);
    // Whether a check failed since passive checks last ejected the server.
    let mut failed_while_ejected = false;
    loop {
        ticker.tick().await;
        let label = crate::Endpoint::server(&t.label);
        let result = t.check.probe.run(t.addr, label, t.tls.as_ref(), t.check.timeout).await;
        let ok = result.is_ok();
        let detail = result.unwrap_or_else(|why| why);
        t.state.record_check(CheckReport { ok, detail: detail.clone(), at: SystemTime::now() });
        let ejected = t.state.is_ejected(now_ns());
        if ok {
            successes += 1;
            failures = 0;
        } else {
            failures += 1;
            successes = 0;
            failed_while_ejected |= ejected;
        }
        let down = t.state.flags() & flag::DOWN != 0;
        if ok && down && successes >= t.check.rise {
            t.state.clear_flag(flag::DOWN);
            t.state.mark_up(now_ns(), t.slow_start);
            t.state.transitions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!(upstream = %t.upstream, server = %t.label, "server is up: {detail}");
        } else if !ok && !down && failures >= t.check.fall {
            t.state.set_flag(flag::DOWN);
            t.state.transitions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(upstream = %t.upstream, server = %t.label, "server is down: {detail}");
        }
        if ok && ejected && failed_while_ejected && successes >= t.check.rise {
            t.state.readmit();
            t.state.mark_up(now_ns(), t.slow_start);
            tracing::info!(upstream = %t.upstream, server = %t.label, "ejected server recovered: {detail}");
        }
        if !ejected {
            failed_while_ejected = false;
        }
    }
}
