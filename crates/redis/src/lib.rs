//! The process's one connection to Redis (`[redis]`), where instances share state: rate
//! limits with `store = "redis"`, bans and challenge passes' secret now; certificates and
//! cache purges later. One server or a Redis Cluster (`connection`). It runs
//! on a thread of its own (`worker`), so that a slow or dead Redis never stalls a worker's
//! loop: workers hand it commands and scripts (`Redis::query`, `Redis::script`) and wait at
//! most the configured timeout. A health check (`health`) says whether Redis is up; while
//! it is not, callers use their local state at once, without waiting. Subscriptions
//! (`subscribe`) follow the connection. `metrics` renders `forecourt_redis_*`.
mod connection;
mod health;
pub mod metrics;
mod subscribe;
mod worker;

use redis::{Cmd, Script, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

/// `[redis]` as compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisSpec {
    pub servers: Servers,
    /// The most a request waits for an answer before it uses local state.
    pub timeout: Duration,
    /// Put before every key and channel name, so that several sites can share a server.
    pub prefix: String,
}

/// Where Redis is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Servers {
    /// `url`: one server (or one address in front of one).
    One(String),
    /// `cluster`: seed nodes of a Redis Cluster; the others are learnt from them.
    Cluster(Vec<String>),
}

impl Servers {
    /// For logs: the URLs without their passwords.
    pub fn describe(&self) -> String {
        match self {
            Servers::One(url) => redacted(url),
            Servers::Cluster(urls) => {
                format!("cluster {}", urls.iter().map(|u| redacted(u)).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

/// What a subscription is handed: each message's payload.
pub type Handler = Box<dyn Fn(&[u8]) + Send + Sync>;

/// Called on the Redis thread (inside its runtime: it may spawn tasks there) each time
/// Redis becomes reachable, at first and after an outage, and once when registered while
/// it is up: the moment to push local state and read the shared state again.
pub type OnUp = Box<dyn Fn(Arc<Redis>) + Send + Sync>;

pub(crate) enum Job {
    Cmd(Cmd, Option<oneshot::Sender<Result<Value, String>>>),
    Script(Script, Vec<Vec<u8>>, Vec<Vec<u8>>, oneshot::Sender<Result<Value, String>>),
}

/// What the Redis thread and its callers share.
#[derive(Default)]
pub(crate) struct Shared {
    pub up: AtomicBool,
    pub errors: AtomicU64,
    pub fallbacks: AtomicU64,
    pub subscriptions: Mutex<Vec<(String, Arc<Handler>)>>,
    /// Subscriptions changed: the subscriber connects again with the new set.
    pub resubscribe: Notify,
    pub on_up: Mutex<Vec<Arc<OnUp>>>,
    /// When refusals were last logged, and how many went unsaid since.
    pub refusals: Mutex<health::RefusalLog>,
}

pub struct Redis {
    pub spec: RedisSpec,
    jobs: mpsc::UnboundedSender<Job>,
    shared: Arc<Shared>,
}

impl Redis {
    /// Checks the URL and starts the Redis thread (it connects in the background: a Redis
    /// that is down at start is a logged warning and local state, not a failure).
    pub fn start(spec: RedisSpec) -> Result<Arc<Redis>, String> {
        let target = connection::Target::open(&spec.servers, spec.timeout)?;
        let (jobs, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let redis = Arc::new(Redis { spec, jobs, shared: shared.clone() });
        worker::spawn(target, Arc::downgrade(&redis), receiver, shared).map_err(|e| format!("cannot start: {e}"))?;
        Ok(redis)
    }

    /// Whether Redis answered its last check and no call has failed since.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// `NAME` with the configured prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.spec.prefix)
    }

    /// Counts a decision made on local state because Redis was down or late.
    pub fn fell_back(&self) {
        self.shared.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `cmd`, waiting at most the timeout; an error (or no answer in time) marks Redis
    /// down until the health check finds it again.
    pub async fn query(&self, cmd: Cmd) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        self.call(Job::Cmd(cmd, Some(tx)), rx).await
    }

    /// Runs a Lua script (by its SHA1, loading it when the server does not know it yet).
    pub async fn script(&self, script: &Script, keys: Vec<Vec<u8>>, args: Vec<Vec<u8>>) -> Result<Value, String> {
        let (tx, rx) = oneshot::channel();
        self.call(Job::Script(script.clone(), keys, args, tx), rx).await
    }

    /// Sends `cmd` without waiting for its answer (a ban announced, a key written); dropped
    /// while Redis is down.
    pub fn send(&self, cmd: Cmd) {
        if self.is_up() {
            let _ = self.jobs.send(Job::Cmd(cmd, None));
        }
    }

    async fn call(&self, job: Job, rx: oneshot::Receiver<Result<Value, String>>) -> Result<Value, String> {
        if !self.is_up() {
            return Err("Redis is down".into());
        }
        if self.jobs.send(job).is_err() {
            return Err("the Redis thread has stopped".into());
        }
        let outcome = match tokio::time::timeout(self.spec.timeout, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err("the Redis thread dropped the call".into()),
            Err(_) => Err(format!("no answer within {:?}", self.spec.timeout)),
        };
        if let Err(why) = &outcome {
            self.shared.errors.fetch_add(1, Ordering::Relaxed);
            health::mark_down(&self.shared, why);
        }
        outcome
    }

    /// Hands every message on `channel` (prefixed) to `handler`, on the Redis thread.
    pub fn subscribe(&self, channel: &str, handler: Handler) {
        let channel = self.key(channel);
        self.shared.subscriptions.lock().unwrap().push((channel, Arc::new(handler)));
        self.shared.resubscribe.notify_one();
    }

    /// Calls `f` each time Redis becomes reachable (within a check's interval, if it is
    /// now).
    pub fn on_up(&self, f: OnUp) {
        self.shared.on_up.lock().unwrap().push(Arc::new(f));
    }
}

/// Whether two places share through the same connection (or both through none): a
/// reload that keeps `[redis]` keeps its connection, and what follows it need not follow
/// it again.
pub fn same(a: Option<&Arc<Redis>>, b: Option<&Arc<Redis>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The URL without its password, for logs.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logs_and_bad_urls_are_refused() {
        assert_eq!(redacted("redis://:secret@10.0.0.1:6379/0"), "redis://…@10.0.0.1:6379/0");
        assert_eq!(redacted("redis://10.0.0.1"), "redis://10.0.0.1");
        let spec = |servers| RedisSpec { servers, timeout: Duration::from_millis(50), prefix: "t:".into() };
        assert!(Redis::start(spec(Servers::One("http://nope".into()))).is_err());
        let seeds = Servers::Cluster(vec!["redis://10.0.0.1:7000".into(), "nope://10.0.0.2".into()]);
        assert!(Redis::start(spec(seeds)).is_err());
        let seeds = Servers::Cluster(vec!["redis://:pw@10.0.0.1:7000".into(), "redis://10.0.0.2:7000".into()]);
        assert_eq!(seeds.describe(), "cluster redis://…@10.0.0.1:7000, redis://10.0.0.2:7000");
    }

    #[test]
    fn a_redis_that_is_not_there_is_down_and_calls_fail_at_once() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let redis = Redis::start(RedisSpec {
            servers: Servers::One(format!("redis://127.0.0.1:{port}")),
            timeout: Duration::from_millis(50),
            prefix: "t:".into(),
        })
        .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(!redis.is_up());
        let started = std::time::Instant::now();
        assert!(rt.block_on(redis.query(redis::cmd("PING"))).is_err());
        assert!(started.elapsed() < Duration::from_millis(20), "no wait while down");
    }
}
