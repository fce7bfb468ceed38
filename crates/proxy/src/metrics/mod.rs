//! Process-wide metrics, kept beside the config snapshot so that reloads keep them: one
//! `Metrics` per process, in the binary's `ProcessState`.
//!
//! Hot-path counters are sharded per worker thread (one cache line each) so that workers
//! never contend; the admin endpoint sums the shards when it renders the Prometheus text
//! (`render.rs`).
mod render;

use crate::answers::reason::Reason;
use forecourt_upstream::PoolCounters;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHARDS: usize = 16;

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

/// Called once by each worker thread: its counters go to shard `worker % SHARDS`.
pub fn set_worker_shard(worker: usize) {
    SHARD.with(|s| s.set(worker % SHARDS));
}

#[repr(align(64))]
#[derive(Default)]
struct Padded(AtomicU64);

/// A monotonically increasing counter, sharded per worker.
pub struct Counter {
    shards: Box<[Padded; SHARDS]>,
}

impl Default for Counter {
    fn default() -> Self {
        Counter { shards: Box::new(std::array::from_fn(|_| Padded::default())) }
    }
}

impl Counter {
    pub fn add(&self, n: u64) {
        let shard = SHARD.with(Cell::get);
        self.shards[shard].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.shards.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// Requests answered by one route, by status class (1xx to 5xx).
#[derive(Default)]
pub struct RouteStats {
    by_class: [Counter; 5],
}

impl RouteStats {
    pub fn count(&self, status: u16) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].add(1);
    }
}

const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Request duration histogram (seconds), Prometheus style.
#[derive(Default)]
struct Histogram {
    buckets: [Counter; BUCKETS.len() + 1],
    sum_micros: Counter,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(BUCKETS.len());
        self.buckets[i].add(1);
        self.sum_micros.add(d.as_micros() as u64);
    }
}

/// Every metric of the request path.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, Arc<RouteStats>>>,
    latency: Histogram,
    /// Answers Forecourt made itself, by reason (`Reason::ALL`'s order).
    local: [Counter; Reason::ALL.len()],
    pub active_connections: AtomicI64,
    pub pool: Arc<PoolCounters>,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// TLS handshakes that failed or timed out (no certificate for the name, a client
    /// offering nothing the policy allows, a scan).
    pub tls_handshake_failures: AtomicU64,
    /// HTTP/2 client connections cut off for abuse or a protocol error, by cause.
    pub h2_cutoffs: crate::h2_abuse::Cutoffs,
    /// HTTP/1 request heads begun and never finished: the header timeout ran out
    /// (slowloris), or the client closed the connection.
    pub heads_timed_out: AtomicU64,
    pub heads_cut_short: AtomicU64,
}

impl Metrics {
    /// The counters of the route called `name`; the same ones across reloads.
    pub fn route(&self, name: &str) -> Arc<RouteStats> {
        self.routes.lock().unwrap().entry(name.to_string()).or_default().clone()
    }

    pub fn observe_request(&self, d: Duration) {
        self.latency.observe(d);
    }

    pub fn count_local(&self, reason: Reason) {
        self.local[reason.index()].add(1);
    }

    /// Local answers made for `reason` so far.
    pub fn local_responses(&self, reason: Reason) -> u64 {
        self.local[reason.index()].get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_sum_their_shards() {
        let c = Counter::default();
        set_worker_shard(3);
        c.add(2);
        set_worker_shard(20);
        c.add(5);
        assert_eq!(c.get(), 7);
    }
}
