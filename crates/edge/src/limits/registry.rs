//! The process's limits by name, beside the config snapshot: a reload that keeps a
//! limit as it was keeps it (its buckets and its counters); one that changes only how it
//! acts on its buckets (`action`, `burst`, `dry_run`, `store`) keeps its buckets, as
//! nginx keeps a `limit_req_zone`'s state across reloads; one that changes its key, rate
//! or `max_keys` starts it afresh. One thread sweeps every limit's table once a second,
//! so that keys that went quiet stop costing memory.
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

impl LimitSpec {
    /// Whether a limit that was `self` and is now `new` keeps its buckets: what they hold
    /// (a TAT per key, in time at this rate) means the same to it. Turning a dry run off
    /// then enforces the limit on the clients it watched, from where they are.
    fn keeps_buckets(&self, new: &LimitSpec) -> bool {
        self.key == new.key && self.rate == new.rate && self.max_keys == new.max_keys
    }
}

/// A limit's buckets: one TAT per key, under a secret that hashes the keys.
struct Buckets {
    table: Table,
    secret: RandomState,
    epoch: Instant,
}

pub struct Limit {
    pub name: String,
    pub spec: LimitSpec,
    /// With `store = "redis"`: the shared store (see `shared`); the local table stands in
    /// while Redis is down.
    pub shared: Option<Arc<Redis>>,
    buckets: Arc<Buckets>,
    pub allowed: AtomicU64,
    pub delayed: AtomicU64,
    pub rejected: AtomicU64,
    /// Requests a dry run let through that its action would have held or refused.
    pub dry_run: AtomicU64,
}

impl Limit {
    fn new(name: &str, spec: LimitSpec, shared: Option<Arc<Redis>>) -> Limit {
        let buckets = Buckets { table: Table::new(spec.max_keys), secret: RandomState::new(), epoch: Instant::now() };
        Limit::with_buckets(name, spec, shared, Arc::new(buckets))
    }

    fn with_buckets(name: &str, spec: LimitSpec, shared: Option<Arc<Redis>>, buckets: Arc<Buckets>) -> Limit {
        Limit {
            name: name.to_owned(),
            shared,
            spec,
            buckets,
            allowed: AtomicU64::new(0),
            delayed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dry_run: AtomicU64::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        // Starts at one period, so that a key's first TAT (0) is always in the past.
        self.buckets.epoch.elapsed().as_nanos() as u64 + self.spec.rate.per_ns
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
        let (counter, outcome) = match conform {
            Conform::Yes { ahead_ns } if ahead_ns == 0 || self.spec.action != Action::Delay => {
                (&self.allowed, Outcome::Allow)
            }
            Conform::Yes { ahead_ns } => (&self.delayed, Outcome::Delay(Duration::from_nanos(ahead_ns))),
            Conform::No { retry_ns } => {
                (&self.rejected, Outcome::Reject { retry_after: Duration::from_nanos(retry_ns) })
            }
        };
        let (counter, outcome) = match outcome {
            Outcome::Delay(_) | Outcome::Reject { .. } if self.spec.dry_run => {
                (&self.dry_run, Outcome::WouldLimit { delay: matches!(outcome, Outcome::Delay(_)) })
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
    /// one, with the running one's buckets where they mean the same to it
    /// (`LimitSpec::keeps_buckets`). Nothing changes until [`Registry::commit`].
    pub fn prepare(&self, name: &str, spec: LimitSpec, shared: Option<Arc<Redis>>) -> Arc<Limit> {
        match self.limits.lock().unwrap().get(name) {
            Some(running)
                if running.spec == spec && forecourt_redis::same(running.shared.as_ref(), shared.as_ref()) =>
            {
                running.clone()
            }
            Some(running) if running.spec.keeps_buckets(&spec) => {
                Arc::new(Limit::with_buckets(name, spec, shared, running.buckets.clone()))
            }
            _ => Arc::new(Limit::new(name, spec, shared)),
        }
    }

    /// The limits of a config that compiled: they are the running ones now.
    pub fn commit(self: &Arc<Self>, limits: Vec<Arc<Limit>>) {
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
        // Another rate: the buckets' times mean another thing; it starts afresh.
        let faster = LimitSpec { rate: Rate::parse("20/s").unwrap(), ..spec(Action::Delay) };
        let changed = registry.prepare("l", faster, None);
        assert_eq!(changed.decide(&head, ip, "r"), Outcome::Allow, "a changed rate starts afresh");
        assert!(matches!(changed.decide(&head, ip, "r"), Outcome::Delay(d) if d <= Duration::from_millis(50)));
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
            let counts =
                [&limit.allowed, &limit.delayed, &limit.rejected, &limit.dry_run].map(|c| c.load(Ordering::Relaxed));
            let allowed = if action == Action::Delay { 1 } else { 2 };
            assert_eq!(counts, [allowed, 0, 0, 4 - allowed], "{action:?}: nothing counted as held or refused");
        }
    }
}
