//! Process-wide metrics, kept beside the config snapshot so that reloads keep them.
//!
//! Hot-path counters are sharded per worker thread (one cache line each) so that workers
//! never contend; the admin endpoint sums the shards when it renders the Prometheus text.
use forecourt_upstream::state::{registry, LATENCY_BUCKETS};
use forecourt_upstream::PoolCounters;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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

/// Every metric Forecourt exports.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, Arc<RouteStats>>>,
    latency: Histogram,
    pub active_connections: AtomicI64,
    pub pool: Arc<PoolCounters>,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// TLS handshakes that failed or timed out (no certificate for the name, a client
    /// offering nothing the policy allows, a scan).
    pub tls_handshake_failures: AtomicU64,
}

/// The one registry of this process.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

impl Metrics {
    /// The counters of the route called `name`; the same ones across reloads.
    pub fn route(&self, name: &str) -> Arc<RouteStats> {
        self.routes.lock().unwrap().entry(name.to_string()).or_default().clone()
    }

    pub fn observe_request(&self, d: Duration) {
        self.latency.observe(d);
    }

    /// The Prometheus text exposition of everything.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        family(o, "forecourt_requests_total", "counter", "Requests answered, by route and status class.");
        for (route, stats) in self.routes.lock().unwrap().iter() {
            for (i, c) in stats.by_class.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "forecourt_requests_total{{route=\"{}\",class=\"{}xx\"}} {}",
                    escape(route),
                    i + 1,
                    c.get()
                );
            }
        }
        family(
            o,
            "forecourt_request_duration_seconds",
            "histogram",
            "Time from request head to the end of the response.",
        );
        let mut cumulative = 0;
        for (i, c) in self.latency.buckets.iter().enumerate() {
            cumulative += c.get();
            let le = BUCKETS.get(i).map(|b| b.to_string()).unwrap_or_else(|| "+Inf".into());
            let _ = writeln!(o, "forecourt_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.latency.sum_micros.get() as f64 / 1e6;
        let _ = writeln!(o, "forecourt_request_duration_seconds_sum {sum}");
        let _ = writeln!(o, "forecourt_request_duration_seconds_count {cumulative}");
        family(o, "forecourt_active_connections", "gauge", "Client connections open now.");
        let _ = writeln!(o, "forecourt_active_connections {}", self.active_connections.load(Ordering::Relaxed));
        render_servers(o);
        let pool = &self.pool;
        family(
            o,
            "forecourt_upstream_pool_reused_total",
            "counter",
            "Upstream requests sent on a pooled keep-alive connection.",
        );
        let _ = writeln!(o, "forecourt_upstream_pool_reused_total {}", pool.reused.load(Ordering::Relaxed));
        family(o, "forecourt_upstream_connections_opened_total", "counter", "Upstream connections opened.");
        let _ = writeln!(o, "forecourt_upstream_connections_opened_total {}", pool.opened.load(Ordering::Relaxed));
        family(o, "forecourt_tls_handshake_failures_total", "counter", "TLS handshakes that failed or timed out.");
        let _ = writeln!(
            o,
            "forecourt_tls_handshake_failures_total {}",
            self.tls_handshake_failures.load(Ordering::Relaxed)
        );
        render_certificates(o);
        family(o, "forecourt_reloads_total", "counter", "Configuration reloads, by result.");
        let _ = writeln!(o, "forecourt_reloads_total{{result=\"ok\"}} {}", self.reloads_ok.load(Ordering::Relaxed));
        let _ =
            writeln!(o, "forecourt_reloads_total{{result=\"error\"}} {}", self.reloads_failed.load(Ordering::Relaxed));
        out
    }
}

/// Per upstream server: counters, in flight, state and latency, from the state registry
/// (which keeps servers a reload removed, so their counters do not go backwards).
fn render_servers(o: &mut String) {
    let servers = registry().endpoints();
    type Read = fn(&forecourt_upstream::state::EndpointState) -> u64;
    let families: [(&str, &str, &str, Read); 7] = [
        (
            "forecourt_upstream_requests_total",
            "counter",
            "Tries sent to each upstream server, retries included.",
            |s| s.requests.load(Ordering::Relaxed),
        ),
        (
            "forecourt_upstream_failures_total",
            "counter",
            "Tries that failed (connection, timeout or a failure status).",
            |s| s.failures.load(Ordering::Relaxed),
        ),
        (
            "forecourt_upstream_connect_errors_total",
            "counter",
            "Failed connection attempts to each upstream server.",
            |s| s.connect_errors.load(Ordering::Relaxed),
        ),
        ("forecourt_upstream_retries_total", "counter", "Retries sent to each upstream server.", |s| {
            s.retries.load(Ordering::Relaxed)
        }),
        (
            "forecourt_upstream_health_transitions_total",
            "counter",
            "Times a server went down, up, in or out of ejection.",
            |s| s.transitions.load(Ordering::Relaxed),
        ),
        ("forecourt_upstream_in_flight", "gauge", "Requests with each upstream server now.", |s| {
            u64::from(s.in_flight())
        }),
        ("forecourt_upstream_up", "gauge", "1 if the server takes requests (not down, ejected or drained).", |s| {
            u64::from(matches!(s.describe(), "up" | "ramping"))
        }),
    ];
    for (name, kind, help, read) in families {
        family(o, name, kind, help);
        for ((group, server), s) in &servers {
            let _ = writeln!(o, "{name}{{upstream=\"{}\",server=\"{}\"}} {}", escape(group), escape(server), read(s));
        }
    }
    let name = "forecourt_upstream_response_seconds";
    family(o, name, "histogram", "Time from a try being sent to its response head, per upstream server.");
    for ((group, server), s) in &servers {
        let labels = format!("upstream=\"{}\",server=\"{}\"", escape(group), escape(server));
        let (buckets, sum_us) = s.latency_histogram();
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BUCKETS.get(i).map(|b| b.to_string()).unwrap_or_else(|| "+Inf".into());
            let _ = writeln!(o, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(o, "{name}_sum{{{labels}}} {}", sum_us as f64 / 1e6);
        let _ = writeln!(o, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// Automatic certificates: challenges answered, orders, and per managed name whether it
/// is still on a temporary certificate, its failures in a row and its expiry.
fn render_certificates(o: &mut String) {
    let store = forecourt_tls::auto::managed();
    family(o, "forecourt_acme_challenges_answered_total", "counter", "ACME challenges answered, by type.");
    for (kind, n) in ["http-01", "tls-alpn-01"].iter().zip(store.answered()) {
        let _ = writeln!(o, "forecourt_acme_challenges_answered_total{{type=\"{kind}\"}} {n}");
    }
    family(o, "forecourt_certificate_issuances_total", "counter", "Automatic certificate orders, by result.");
    for (result, n) in ["ok", "error"].iter().zip(store.issued()) {
        let _ = writeln!(o, "forecourt_certificate_issuances_total{{result=\"{result}\"}} {n}");
    }
    let statuses = store.statuses();
    family(
        o,
        "forecourt_certificate_temporary",
        "gauge",
        "1 while a managed name is served a temporary self-signed certificate (none issued yet).",
    );
    for (name, s) in &statuses {
        let _ = writeln!(o, "forecourt_certificate_temporary{{name=\"{}\"}} {}", escape(name), u8::from(s.temporary));
    }
    family(o, "forecourt_certificate_failures", "gauge", "Failed issuance attempts in a row, per managed name.");
    for (name, s) in &statuses {
        let _ = writeln!(o, "forecourt_certificate_failures{{name=\"{}\"}} {}", escape(name), s.failures);
    }
    family(
        o,
        "forecourt_certificate_expiry_seconds",
        "gauge",
        "When a managed name's certificate expires (Unix time).",
    );
    for (name, s) in statuses.iter().filter(|(_, s)| !s.temporary) {
        let _ = writeln!(
            o,
            "forecourt_certificate_expiry_seconds{{name=\"{}\"}} {}",
            escape(name),
            s.not_after.unwrap_or(0)
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
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

    #[test]
    fn render_has_cumulative_buckets() {
        let m = Metrics::default();
        m.route("api").count(204);
        m.observe_request(Duration::from_micros(300));
        m.observe_request(Duration::from_millis(30));
        let text = m.render();
        assert!(text.contains("forecourt_requests_total{route=\"api\",class=\"2xx\"} 1"), "{text}");
        assert!(text.contains("forecourt_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("forecourt_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
    }
}
