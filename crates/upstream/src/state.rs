//! What Forecourt knows about each server, beside the config snapshot: requests in flight,
//! the latency estimate, health, ejection and counters. One [`EndpointState`] per
//! (upstream, server label), shared by every worker and kept across reloads through the
//! [`registry`], so a reload that keeps a server keeps what was learnt about it.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// Nanoseconds since the process started: timestamps that fit an atomic.
pub fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// The same clock for an instant already read.
pub fn ns_at(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

/// A duration in this clock's unit, `u64::MAX` for the unbounded.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// How quickly the latency estimate forgets while nothing is learnt: a server's past
/// counts for `e^-1` after this long (so a server left alone is tried again).
const EWMA_DECAY_NS: f64 = 5e9;
/// How far one answer moves the estimate: an answer slower than the estimate a quarter of
/// the way (a server turning slow is seen within a few answers), a faster one a twentieth.
/// Counted per answer rather than per unit of time, so that at high rates the estimate
/// follows the typical answer and not the rare stall (which a time-weighted peak would
/// hold for seconds, making every busy server look slow).
const WEIGHT_SLOWER: f64 = 0.25;
const WEIGHT_FASTER: f64 = 0.05;
/// The estimate of a server nothing has been learnt about yet.
const EWMA_START_NS: f64 = 1e6;
/// What a failed exchange counts as, so that a server which fails fast does not look fast.
const FAILURE_PENALTY_NS: f64 = 1e9;

/// Flags that take a server out of (or hold it back from) rotation.
pub mod flag {
    /// Failed its active health checks.
    pub const DOWN: u8 = 1;
    /// Put aside by an operator (admin API).
    pub const DRAINED: u8 = 2;
    /// Ejected after consecutive failures (outlier detection), until `ejected_until`.
    pub const EJECTED: u8 = 4;
    /// Back in rotation recently: takes a growing share until slow start ends.
    pub const RAMPING: u8 = 8;
}

/// The last active health check of a server.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub ok: bool,
    pub detail: String,
    pub at: SystemTime,
}

/// Per-server state shared by all workers. Aligned to its own cache lines so that two
/// servers' counters never share one.
#[repr(align(128))]
#[derive(Debug)]
pub struct EndpointState {
    /// Requests with the server, from the try until the response body has gone.
    in_flight: AtomicU32,
    /// Of those, the ones still waiting for the response head: the load peak-EWMA weighs.
    awaiting: AtomicU32,
    /// Peak-EWMA latency estimate (f64 nanoseconds, as bits) and when it was last updated.
    ewma: AtomicU64,
    ewma_at: AtomicU64,
    /// When the server last answered, or began to be awaited after a quiet spell: a
    /// request awaited since then has taken at least that long.
    heard_from: AtomicU64,
    flags: AtomicU8,
    ejected_until: AtomicU64,
    /// Consecutive failures, and when the first of them happened.
    consecutive_failures: AtomicU32,
    first_failure_at: AtomicU64,
    /// How many times in a row it has been ejected (the backoff doubles with each).
    ejections: AtomicU32,
    /// When it came back into rotation (for slow start).
    up_since: AtomicU64,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub connect_errors: AtomicU64,
    pub retries: AtomicU64,
    pub transitions: AtomicU64,
    /// Response-head latency histogram over [`LATENCY_BUCKETS`], plus the sum in µs.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
    last_check: Mutex<Option<CheckReport>>,
}

/// Upper bounds (seconds) of the per-server latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

impl Default for EndpointState {
    fn default() -> Self {
        EndpointState {
            in_flight: AtomicU32::new(0),
            awaiting: AtomicU32::new(0),
            ewma: AtomicU64::new(EWMA_START_NS.to_bits()),
            ewma_at: AtomicU64::new(now_ns()),
            heard_from: AtomicU64::new(0),
            flags: AtomicU8::new(0),
            ejected_until: AtomicU64::new(0),
            consecutive_failures: AtomicU32::new(0),
            first_failure_at: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            up_since: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            connect_errors: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            last_check: Mutex::new(None),
        }
    }
}

/// Held while a request is with a server; counts it in flight until dropped, and as
/// awaiting its response head until [`InFlight::answered`].
#[derive(Debug)]
pub struct InFlight {
    state: Arc<EndpointState>,
    awaiting: bool,
}

impl InFlight {
    /// The response head arrived (or the try failed).
    pub fn answered(&mut self) {
        if std::mem::take(&mut self.awaiting) {
            self.state.awaiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.answered();
        self.state.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl EndpointState {
    /// A request is sent to this server at `now`; it counts as in flight while the guard
    /// lives.
    pub fn start(self: &Arc<Self>, now: u64) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if self.awaiting.fetch_add(1, Ordering::Relaxed) == 0 {
            self.heard_from.store(now, Ordering::Relaxed);
        }
        InFlight { state: self.clone(), awaiting: true }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn flags(&self) -> u8 {
        self.flags.load(Ordering::Relaxed)
    }

    pub fn set_flag(&self, f: u8) {
        self.flags.fetch_or(f, Ordering::Relaxed);
    }

    pub fn clear_flag(&self, f: u8) {
        self.flags.fetch_and(!f, Ordering::Relaxed);
    }

    /// The latency estimate now: the peak EWMA, decayed towards zero for the time nothing
    /// was learnt, so that a server left alone is eventually tried again; but never less
    /// than the time the server has kept a request waiting without answering anything, so
    /// that a server tried again is not sent a burst before its first answer shows what
    /// it is.
    pub fn latency_estimate(&self, now: u64) -> f64 {
        let estimate = f64::from_bits(self.ewma.load(Ordering::Relaxed));
        let at = self.ewma_at.load(Ordering::Relaxed);
        let idle = now.saturating_sub(at) as f64;
        let decayed = estimate * (-idle / EWMA_DECAY_NS).exp();
        if self.awaiting.load(Ordering::Relaxed) == 0 {
            return decayed;
        }
        decayed.max(now.saturating_sub(self.heard_from.load(Ordering::Relaxed)) as f64)
    }

    /// The load score of peak-EWMA balancing: latency × (requests awaiting an answer + 1).
    /// Requests whose head has come back are not counted: the time they spend on their
    /// way to the client is the proxy's, not the server's.
    pub fn cost(&self, now: u64) -> f64 {
        self.latency_estimate(now) * f64::from(self.awaiting.load(Ordering::Relaxed) + 1)
    }

    /// A response head arrived `rtt` after the request was sent.
    pub fn observe(&self, rtt: Duration, now: u64) {
        let ns = rtt.as_nanos() as f64;
        self.update_ewma(ns, now);
        let secs = rtt.as_secs_f64();
        let bucket = LATENCY_BUCKETS.iter().position(|&b| secs <= b).unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(rtt.as_micros() as u64, Ordering::Relaxed);
    }

    fn update_ewma(&self, ns: f64, now: u64) {
        self.heard_from.store(now, Ordering::Relaxed);
        let prev = f64::from_bits(self.ewma.load(Ordering::Relaxed));
        let at = self.ewma_at.swap(now, Ordering::Relaxed);
        let by_time = 1.0 - (-(now.saturating_sub(at) as f64) / EWMA_DECAY_NS).exp();
        // After a quiet spell, a new answer counts for more.
        let per_answer = if ns > prev { WEIGHT_SLOWER } else { WEIGHT_FASTER };
        let weight = by_time.max(per_answer);
        let next = prev + (ns - prev) * weight;
        self.ewma.store(next.to_bits(), Ordering::Relaxed);
    }

    /// A failed exchange counts as a very slow one for the latency estimate.
    pub fn penalise(&self, now: u64) {
        self.update_ewma(FAILURE_PENALTY_NS, now);
    }

    pub fn latency_histogram(&self) -> (Vec<u64>, u64) {
        (self.latency.iter().map(|c| c.load(Ordering::Relaxed)).collect(), self.latency_sum_us.load(Ordering::Relaxed))
    }

    /// A request succeeded: the run of failures ends.
    pub fn succeeded(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// A request failed; returns the length of the run of failures within `window`.
    pub fn failed(&self, now: u64, window: Duration) -> u32 {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let first = self.first_failure_at.load(Ordering::Relaxed);
        let run = self.consecutive_failures.fetch_add(1, Ordering::Relaxed);
        if run == 0 || now.saturating_sub(first) > nanos(window) {
            // A new run starts here.
            self.first_failure_at.store(now, Ordering::Relaxed);
            self.consecutive_failures.store(1, Ordering::Relaxed);
            return 1;
        }
        run + 1
    }

    /// Takes the server out of rotation for `base` × 2^(earlier ejections), at most `max`.
    /// False if it was already ejected.
    pub fn eject(&self, now: u64, base: Duration, max: Duration) -> bool {
        if self.flags() & flag::EJECTED != 0 {
            return false;
        }
        let n = self.ejections.fetch_add(1, Ordering::Relaxed).min(16);
        let backoff = base.saturating_mul(1 << n).min(max);
        self.ejected_until.store(now.saturating_add(nanos(backoff)), Ordering::Relaxed);
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.set_flag(flag::EJECTED);
        self.transitions.fetch_add(1, Ordering::Relaxed);
        true
    }

    pub fn ejected_until(&self) -> u64 {
        self.ejected_until.load(Ordering::Relaxed)
    }

    pub fn is_ejected(&self, now: u64) -> bool {
        self.flags() & flag::EJECTED != 0 && now < self.ejected_until()
    }

    /// Ends an ejection early (an active check saw the server well).
    pub fn readmit(&self) {
        if self.flags() & flag::EJECTED != 0 {
            self.clear_flag(flag::EJECTED);
            self.transitions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The ejection backoff starts over once the server has stayed well for `quiet`.
    pub fn forgive(&self, now: u64, quiet: Duration) {
        if self.ejections.load(Ordering::Relaxed) != 0
            && self.flags() & flag::EJECTED == 0
            && now.saturating_sub(self.ejected_until.load(Ordering::Relaxed)) > nanos(quiet)
        {
            self.ejections.store(0, Ordering::Relaxed);
        }
    }

    /// Whether a server with these (non-zero) flags may take a request now, and at what
    /// share of its weight (0.0 to 1.0). Expired ejections and ramps end here.
    pub fn admission(&self, flags: u8, now: u64, slow_start: Duration) -> f64 {
        if flags & (flag::DOWN | flag::DRAINED) != 0 {
            return 0.0;
        }
        if flags & flag::EJECTED != 0 {
            if now < self.ejected_until.load(Ordering::Relaxed) {
                return 0.0;
            }
            // Back on trial: one more failure run ejects it again, for longer.
            self.clear_flag(flag::EJECTED);
            self.transitions.fetch_add(1, Ordering::Relaxed);
            self.mark_up(now, slow_start);
        }
        if self.flags() & flag::RAMPING != 0 {
            let since = now.saturating_sub(self.up_since.load(Ordering::Relaxed)) as f64;
            let share = since / slow_start.as_nanos().max(1) as f64;
            if share >= 1.0 {
                self.clear_flag(flag::RAMPING);
                return 1.0;
            }
            return share.max(0.05);
        }
        1.0
    }

    /// The server (re)enters rotation: with slow start it ramps up from now.
    pub fn mark_up(&self, now: u64, slow_start: Duration) {
        if !slow_start.is_zero() {
            self.up_since.store(now, Ordering::Relaxed);
            self.set_flag(flag::RAMPING);
        }
    }

    pub fn record_check(&self, report: CheckReport) {
        *self.last_check.lock().unwrap() = Some(report);
    }

    pub fn last_check(&self) -> Option<CheckReport> {
        self.last_check.lock().unwrap().clone()
    }

    /// A word for the admin API: up, down, ejected, draining or ramping.
    pub fn describe(&self) -> &'static str {
        let f = self.flags();
        if f & flag::DRAINED != 0 {
            "draining"
        } else if f & flag::DOWN != 0 {
            "down"
        } else if self.is_ejected(now_ns()) {
            "ejected"
        } else if f & flag::RAMPING != 0 {
            "ramping"
        } else {
            "up"
        }
    }
}

/// State of a whole upstream that outlives reloads: its retry budget and request slots.
#[derive(Debug, Default)]
pub struct GroupState {
    pub budget: crate::retry::BudgetWindow,
    pub slots: Arc<crate::limit::Slots>,
}

/// Every upstream's and server's state, by name: one per process, owned by the binary and
/// handed to each compile, so that a reload that keeps a server keeps what was learnt about it.
#[derive(Default, Debug)]
pub struct Registry {
    endpoints: Mutex<BTreeMap<(String, String), Arc<EndpointState>>>,
    groups: Mutex<BTreeMap<String, Arc<GroupState>>>,
}

impl Registry {
    /// The state of server `label` of upstream `group`; the same one across reloads.
    pub fn endpoint(&self, group: &str, label: &str) -> Arc<EndpointState> {
        let key = (group.to_string(), label.to_string());
        self.endpoints.lock().unwrap().entry(key).or_default().clone()
    }

    pub fn group(&self, name: &str) -> Arc<GroupState> {
        self.groups.lock().unwrap().entry(name.to_string()).or_default().clone()
    }

    /// Forgets the endpoints that stood for an address of a name (labels with `@`) once
    /// nothing uses them: a name whose addresses churn would otherwise grow this for ever.
    /// Servers written as addresses are kept, so their counters survive reloads.
    pub fn forget_vanished_addresses(&self) {
        self.endpoints.lock().unwrap().retain(|(_, label), s| !label.contains('@') || Arc::strong_count(s) > 1);
    }

    /// Every server configured (for metrics, which keep counting across reloads).
    pub fn endpoints(&self) -> Vec<((String, String), Arc<EndpointState>)> {
        self.endpoints.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_sees_a_slow_server_fast_and_forgives_a_lone_stall() {
        let ms = |n: f64| n * 1e6;
        let s = EndpointState::default();
        let mut t = now_ns();
        // A server that turns slow: 50 ms answers, a millisecond apart.
        for _ in 0..8 {
            t += 1_000_000;
            s.observe(Duration::from_millis(50), t);
        }
        assert!(s.latency_estimate(t) > ms(40.0), "{}", s.latency_estimate(t));
        // A fast server with one stall among many quick answers stays fast.
        let f = EndpointState::default();
        for i in 0..200 {
            t += 20_000;
            let rtt = if i == 100 { Duration::from_millis(9) } else { Duration::from_micros(500) };
            f.observe(rtt, t);
        }
        assert!(f.latency_estimate(t) < ms(0.6), "{}", f.latency_estimate(t));
        // Left alone for a minute, the slow server's estimate fades so it is tried again.
        assert!(s.latency_estimate(t + 60_000_000_000) < ms(0.1));
    }

    #[test]
    fn a_server_silent_with_a_request_looks_as_slow_as_its_silence() {
        let s = Arc::new(EndpointState::default());
        let t = now_ns() + 60_000_000_000;
        let _waiting = s.start(t);
        assert!(s.latency_estimate(t + 30_000_000) >= 30e6);
    }

    #[test]
    fn ejection_backs_off_and_expires() {
        let s = EndpointState::default();
        let base = Duration::from_secs(1);
        assert!(s.eject(0, base, Duration::from_secs(60)));
        assert!(!s.eject(0, base, Duration::from_secs(60)), "already out");
        assert_eq!(s.admission(s.flags(), 500_000_000, Duration::ZERO), 0.0);
        assert_eq!(s.admission(s.flags(), 1_000_000_001, Duration::ZERO), 1.0);
        assert_eq!(s.flags(), 0, "the ejection ended");
        // The second ejection lasts twice as long.
        assert!(s.eject(2_000_000_000, base, Duration::from_secs(60)));
        assert_eq!(s.admission(s.flags(), 3_500_000_000, Duration::ZERO), 0.0);
        assert_eq!(s.admission(s.flags(), 4_000_000_001, Duration::ZERO), 1.0);
    }

    #[test]
    fn failure_runs_restart_outside_their_window() {
        let s = EndpointState::default();
        let w = Duration::from_secs(10);
        assert_eq!(s.failed(0, w), 1);
        assert_eq!(s.failed(1, w), 2);
        s.succeeded();
        assert_eq!(s.failed(2, w), 1);
        assert_eq!(s.failed(11_000_000_000, w), 1, "the run is older than the window");
    }

    #[test]
    fn slow_start_ramps_the_share() {
        let s = EndpointState::default();
        let ramp = Duration::from_secs(10);
        s.mark_up(0, ramp);
        let half = s.admission(s.flags(), 5_000_000_000, ramp);
        assert!((half - 0.5).abs() < 0.01, "{half}");
        assert_eq!(s.admission(s.flags(), 10_000_000_001, ramp), 1.0);
        assert_eq!(s.flags(), 0);
    }
}
