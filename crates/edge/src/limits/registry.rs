//! The process's limits by name, beside the config snapshot: a reload that keeps a
//! limit's key keeps its buckets, as nginx keeps a `limit_req_zone`'s state across
//! reloads, whatever else changes (`action`, `burst`, `dry_run`, `store`, `max_keys`, and
//! the rate: each key's debt is converted to the new rate as requests, as nginx keeps a
//! key's excess in requests; so tightening a limit under attack gives no client a fresh
//! burst); one that changes its key starts afresh. Its counters are the name's, kept
//! through any change. One thread sweeps every limit's table once a second, so that keys
//! that went quiet stop costing memory.
use super::gcra::{Conform, Rate};
use super::key::KeySpec;
use super::table::Table;
use forecourt_redis::Redis;
use http::request;
use std::collections::BTreeMap;
use std::hash::RandomState;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// What happens to a request over the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// 429 with `Retry-After` and `RateLimit-*` fields.
    Reject,
    /// Held until its turn at the steady rate, as nginx's `limit_req` without `nodelay`;
    /// refused (429) past the burst.
    Delay,
    /// Over the limit, a client without a challenge pass gets the challenge page (one
    /// with a pass goes on): needs `[challenge]`.
    Challenge,
}

/// A limit as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitSpec {
    pub key: KeySpec,
    pub rate: Rate,
    pub burst: u64,
    pub action: Action,
    /// Most keys tracked at once (memory: about 40 bytes each).
    pub max_keys: usize,
    /// Counts and logs as usual, but lets every request go on at once (nginx's
    /// `limit_req_dry_run`): to see what a limit would do before it does it.
    pub dry_run: bool,
}

/// What a limit decides for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Its key is missing: the limit does not count it.
    Skip,
    Allow,
    /// Allowed after this wait.
    Delay(Duration),
    Reject {
        retry_after: Duration,
    },
    /// In a dry run: the request goes on, though the limit would have held it (`delay`)
    /// or refused it.
    WouldLimit {
        delay: bool,
    },
}

/// Where a limit's clock starts (`Limit::now_ns`): the longest period a rate may have (a
/// day), so that a key's first TAT (0) is in the past whatever the rate, and a changed
/// rate reads the same clock.
const CLOCK_START_NS: u64 = 86_400 * 1_000_000_000;

/// A limit's buckets: one TAT per key, under a secret that hashes the keys. Kept by every
/// limit of the same name and key: turning a dry run off then enforces the limit on the
/// clients it watched, from where they are.
struct Buckets {
    table: Table,
    secret: RandomState,
    epoch: Instant,
}

/// What a limit decided, counted for its name (kept by reloads whatever they change).
#[derive(Default)]
pub struct Counts {
    pub allowed: AtomicU64,
    pub delayed: AtomicU64,
    pub rejected: AtomicU64,
    /// Requests a dry run let through that its action would have held or refused.
    pub dry_run: AtomicU64,
}

pub struct Limit {
    pub name: String,
    pub spec: LimitSpec,
    /// With `store = "redis"`: the shared store (see `shared`); the local table stands in
    /// while Redis is down.
    pub shared: Option<Arc<Redis>>,
    buckets: Arc<Buckets>,
    pub counts: Arc<Counts>,
    /// The rate of the buckets this limit took over from the running one, until `commit`
    /// converts them to its own (once; a reload that fails to compile changes nothing).
    converts_from: Mutex<Option<Rate>>,
}

impl Limit {
    fn new(name: &str, spec: LimitSpec, shared: Option<Arc<Redis>>) -> Limit {
        let buckets = Buckets { table: Table::new(spec.max_keys), secret: RandomState::new(), epoch: Instant::now() };
        Limit {
            name: name.to_owned(),
            shared,
            spec,
            buckets: Arc::new(buckets),
            counts: Arc::default(),
            converts_from: Mutex::new(None),
        }
    }

    /// `spec` on the running limit's buckets (converted at commit if the rate changed)
    /// and counters.
    fn taking_over(running: &Limit, spec: LimitSpec, shared: Option<Arc<Redis>>) -> Limit {
        let converts_from = (running.spec.rate != spec.rate).then_some(running.spec.rate);
        Limit {
            name: running.name.clone(),
            shared,
            spec,
            buckets: running.buckets.clone(),
            counts: running.counts.clone(),
            converts_from: Mutex::new(converts_from),
        }
    }

    fn now_ns(&self) -> u64 {
        self.buckets.epoch.elapsed().as_nanos() as u64 + CLOCK_START_NS
    }

    /// Makes the buckets this limit took over its own: the table's bound, and each key's
    /// debt at the old rate as the same number of requests at this one.
    fn settle(&self) {
        let table = &self.buckets.table;
        table.set_max_keys(self.spec.max_keys);
        if let Some(old) = self.converts_from.lock().unwrap().take() {
            table.convert(self.now_ns(), old.emission_ns(), self.spec.rate.emission_ns());
        }
    }

    /// Decides one request and counts it.
    pub fn decide(&self, head: &request::Parts, client: IpAddr, route: &str) -> Outcome {
        let Some(key) = self.spec.key.key(&self.buckets.secret, head, client, route) else { return Outcome::Skip };
        let emission = self.spec.rate.emission_ns();
        self.count(self.buckets.table.check(key, self.now_ns(), emission, self.spec.burst))
    }

    /// Counts what a bucket (local or shared) said, as the limit's action makes it (and
    /// as a dry run lets it go on).
    pub(super) fn count(&self, conform: Conform) -> Outcome {
        let counts = &*self.counts;
        let (counter, outcome) = match conform {
            Conform::Yes { ahead_ns } if ahead_ns == 0 || self.spec.action != Action::Delay => {
                (&counts.allowed, Outcome::Allow)
            }
            Conform::Yes { ahead_ns } => (&counts.delayed, Outcome::Delay(Duration::from_nanos(ahead_ns))),
            Conform::No { retry_ns } => {
                (&counts.rejected, Outcome::Reject { retry_after: Duration::from_nanos(retry_ns) })
            }
        };
        let (counter, outcome) = match outcome {
            Outcome::Delay(_) | Outcome::Reject { .. } if self.spec.dry_run => {
                (&counts.dry_run, Outcome::WouldLimit { delay: matches!(outcome, Outcome::Delay(_)) })
            }
            _ => (counter, outcome),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// Keys tracked now, and requests let through untracked because the table was full.
    pub fn usage(&self) -> (usize, u64) {
        let table = &self.buckets.table;
        (table.keys(), table.untracked.load(Ordering::Relaxed))
    }

    fn sweep(&self) {
        self.buckets.table.sweep(self.now_ns());
    }
}

#[derive(Default)]
pub struct Registry {
    limits: Mutex<BTreeMap<String, Arc<Limit>>>,
    sweeper: Mutex<bool>,
}

impl Registry {
    /// The limit `name` as `spec` says: the running one when it is the same; else a new
    /// one, on the running one's buckets and counters when it keys them the same way.
    /// Nothing changes until [`Registry::commit`].
    pub fn prepare(&self, name: &str, spec: LimitSpec, shared: Option<Arc<Redis>>) -> Arc<Limit> {
        match self.limits.lock().unwrap().get(name) {
            Some(running)
                if running.spec == spec && forecourt_redis::same(running.shared.as_ref(), shared.as_ref()) =>
            {
                running.clone()
            }
            Some(running) if running.spec.key == spec.key => Arc::new(Limit::taking_over(running, spec, shared)),
            _ => Arc::new(Limit::new(name, spec, shared)),
        }
    }

    /// The limits of a config that compiled: they are the running ones now.
    pub fn commit(self: &Arc<Self>, limits: Vec<Arc<Limit>>) {
        for limit in &limits {
            limit.settle();
        }
        *self.limits.lock().unwrap() = limits.into_iter().map(|l| (l.name.clone(), l)).collect();
        self.start_sweeper();
    }

    /// Every limit, by name (for `/metrics`).
    pub fn all(&self) -> Vec<Arc<Limit>> {
        self.limits.lock().unwrap().values().cloned().collect()
    }

    fn start_sweeper(self: &Arc<Self>) {
        let mut started = self.sweeper.lock().unwrap();
        if *started {
            return;
        }
        *started = true;
        let registry: Weak<Registry> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("limit-sweeper".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(1));
            let Some(registry) = registry.upgrade() else { return };
            for limit in registry.all() {
                limit.sweep();
            }
        });
        if spawned.is_err() {
            *started = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(action: Action) -> LimitSpec {
        LimitSpec {
            key: KeySpec::parse("ip", 64).unwrap(),
            rate: Rate::parse("10/s").unwrap(),
            burst: 1,
            action,
            max_keys: 1000,
            dry_run: false,
        }
    }

    #[test]
    fn a_reload_that_keeps_a_limit_keeps_its_buckets() {
        let registry = Arc::new(Registry::default());
        let head = http::Request::get("/").body(()).unwrap().into_parts().0;
        let ip = "10.0.0.1".parse().unwrap();
        let a = registry.prepare("l", spec(Action::Reject), None);
        registry.commit(vec![a.clone()]);
        assert_eq!(a.decide(&head, ip, "r"), Outcome::Allow);
        assert_eq!(a.decide(&head, ip, "r"), Outcome::Allow, "the burst");
        assert!(matches!(a.decide(&head, ip, "r"), Outcome::Reject { .. }));
        let same = registry.prepare("l", spec(Action::Reject), None);
        assert!(Arc::ptr_eq(&a, &same) && matches!(same.decide(&head, ip, "r"), Outcome::Reject { .. }));
        // Acting otherwise on the same buckets: a dry run turned off, a larger burst.
        let watched = registry.prepare("l", LimitSpec { dry_run: true, ..spec(Action::Reject) }, None);
        registry.commit(vec![watched.clone()]);
        assert_eq!(watched.decide(&head, ip, "r"), Outcome::WouldLimit { delay: false });
        let enforced = registry.prepare("l", spec(Action::Reject), None);
        assert!(!Arc::ptr_eq(&watched, &enforced), "a new limit");
        assert!(matches!(enforced.decide(&head, ip, "r"), Outcome::Reject { .. }), "on the buckets it watched");
        let wider = registry.prepare("l", LimitSpec { burst: 2, ..spec(Action::Reject) }, None);
        assert_eq!(wider.decide(&head, ip, "r"), Outcome::Allow, "one more: the larger burst, from where the key was");
        assert!(matches!(wider.decide(&head, ip, "r"), Outcome::Reject { .. }));
        registry.commit(vec![wider.clone()]);
        // Another rate: the key is three requests (300 ms) ahead at 10/s, one past what its
        // burst of 1 allows now; at 1/s it is still three requests ahead: three seconds, and
        // the next request conforms in two.
        let slower = LimitSpec { rate: Rate::parse("1/s").unwrap(), ..spec(Action::Reject) };
        let changed = registry.prepare("l", slower, None);
        registry.commit(vec![changed.clone()]);
        match changed.decide(&head, ip, "r") {
            Outcome::Reject { retry_after } => {
                assert!(
                    retry_after > Duration::from_millis(1900) && retry_after <= Duration::from_secs(2),
                    "{retry_after:?}"
                )
            }
            other => panic!("a changed rate gave the client a fresh burst: {other:?}"),
        }
        // Committed again by a later reload that keeps it: converted once, not twice.
        registry.commit(vec![changed.clone()]);
        let again = changed.decide(&head, ip, "r");
        assert!(matches!(again, Outcome::Reject { retry_after } if retry_after <= Duration::from_secs(2)), "{again:?}");
        let counts = [&changed.counts.allowed, &changed.counts.rejected].map(|c| c.load(Ordering::Relaxed));
        assert_eq!(counts, [3, 6], "the name's counters, through every change");
        // Another key: what the buckets hold means nothing to it; it starts afresh.
        let by_route = LimitSpec { key: KeySpec::parse("route", 64).unwrap(), ..spec(Action::Reject) };
        let other = registry.prepare("l", by_route, None);
        assert_eq!(other.decide(&head, ip, "r"), Outcome::Allow, "another key starts afresh");
    }

    #[test]
    fn a_dry_run_counts_what_it_would_do_and_lets_the_request_go_on() {
        let head = http::Request::get("/").body(()).unwrap().into_parts().0;
        let ip = "10.0.0.1".parse().unwrap();
        for (action, delay) in [(Action::Reject, false), (Action::Delay, true)] {
            let limit = Limit::new("l", LimitSpec { dry_run: true, ..spec(action) }, None);
            assert_eq!(limit.decide(&head, ip, "r"), Outcome::Allow);
            let over = (0..3).map(|_| limit.decide(&head, ip, "r")).collect::<Vec<_>>();
            // Delaying, the burst's request waits its turn and the next are over the burst.
            let expected = match action {
                Action::Delay => vec![
                    Outcome::WouldLimit { delay },
                    Outcome::WouldLimit { delay: false },
                    Outcome::WouldLimit { delay: false },
                ],
                _ => vec![Outcome::Allow, Outcome::WouldLimit { delay }, Outcome::WouldLimit { delay }],
            };
            assert_eq!(over, expected, "{action:?}");
            let c = &limit.counts;
            let counts = [&c.allowed, &c.delayed, &c.rejected, &c.dry_run].map(|c| c.load(Ordering::Relaxed));
            let allowed = if action == Action::Delay { 1 } else { 2 };
            assert_eq!(counts, [allowed, 0, 0, 4 - allowed], "{action:?}: nothing counted as held or refused");
        }
    }
}
