//! Whether Redis is up: a check every half second (a PING; on a cluster, every primary
//! and the cluster state, `Connection::check`) within the timeout, on the Redis
//! thread, and any failed call, decide. The moment it changes is logged once; coming up
//! runs the `on_up` hooks (push local state, read the shared state again).
use crate::connection::{response_timeout, Connection, Target};
use crate::{Redis, Shared};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(500);

/// A Redis that refuses every call (out of memory) is found up by each check and down by
/// the next call: its refusals are said at most once in this long, with a count of those
/// that went unsaid (and so is its coming back after each).
const REFUSALS_QUIET_FOR: Duration = Duration::from_secs(60);

/// When refusals were last logged, and how many went unsaid since.
#[derive(Default)]
pub(crate) struct RefusalLog {
    last: Option<Instant>,
    unsaid: u64,
    /// The last time Redis went down was an unsaid refusal: its coming back is unsaid too.
    quiet: bool,
}

/// A call failed: down until the next check finds Redis (logged when it was up).
pub(crate) fn mark_down(shared: &Shared, why: &str) {
    if !shared.up.swap(false, Ordering::Relaxed) {
        return;
    }
    let Some(error) = why.strip_prefix(REFUSED) else {
        shared.refusals.lock().unwrap().quiet = false;
        return log_down(why);
    };
    let mut log = shared.refusals.lock().unwrap();
    let now = Instant::now();
    if log.last.is_some_and(|last| now.duration_since(last) < REFUSALS_QUIET_FOR) {
        log.unsaid += 1;
        log.quiet = true;
        return;
    }
    let unsaid = std::mem::take(&mut log.unsaid);
    (log.last, log.quiet) = (Some(now), false);
    tracing::warn!(
        error,
        unsaid,
        "Redis refused a call: limits and bans use this instance's local state until the next check \
         (said at most once a minute; `unsaid` counts the refusals since the last time)"
    );
}

fn log_down(why: &str) {
    tracing::warn!(
        reason = why,
        "Redis is unreachable: limits and bans use this instance's local state until it answers again"
    );
}

/// Begins what a failed call says when Redis answered it with an error of the call's own
/// (a script's error, `OOM`, `WRONGTYPE`, `NOPERM`), not one of its availability.
const REFUSED: &str = "refused: ";

/// What a failed call says. A Redis that answered with an error is up but of no use for
/// the call (it counts as down all the same: the local state is the safe side); a cluster
/// that is moving or down, a server loading its data or a replica that cannot take
/// writes (`READONLY`, during a failover) is unavailable, as one that does not answer.
pub(crate) fn failure(e: redis::RedisError) -> String {
    use redis::ErrorKind::{BusyLoadingError, MasterDown, ReadOnly};
    let unavailable = e.is_cluster_error() || matches!(e.kind(), BusyLoadingError | MasterDown | ReadOnly);
    match e.code() {
        Some(_) if !unavailable => format!("{REFUSED}{e}"),
        _ => e.to_string(),
    }
}

/// The connection callers' jobs go through (none while Redis is unreachable).
pub(crate) type Current = Arc<Mutex<Option<Connection>>>;

/// Connects, then checks, until the `Redis` is gone.
pub(crate) async fn run(target: Arc<Target>, redis: Weak<Redis>, shared: Arc<Shared>, current: Current) {
    let mut announced_down = false;
    // How many `on_up` hooks have run since Redis last came up.
    let mut hooks_run = 0;
    loop {
        let Some(timeout) = redis.upgrade().map(|r| r.spec.timeout) else { return };
        let connection = current.lock().unwrap().clone();
        let healthy = check(&target, connection, &current, timeout).await;
        match healthy {
            Ok(()) => {
                let Some(redis) = redis.upgrade() else { return };
                // Back after an unsaid refusal: unsaid too.
                if !shared.up.swap(true, Ordering::Relaxed) {
                    announced_down = false;
                    hooks_run = 0;
                    if !std::mem::take(&mut shared.refusals.lock().unwrap().quiet) {
                        tracing::info!(
                            servers = redis.spec.servers.describe(),
                            "Redis is reachable: limits and bans are shared"
                        );
                    }
                }
                let hooks: Vec<_> = shared.on_up.lock().unwrap().clone();
                for hook in hooks.iter().skip(hooks_run) {
                    hook(redis.clone());
                }
                hooks_run = hooks.len();
            }
            Err(why) => {
                // A fresh connection next time: the manager's own reconnects give up.
                *current.lock().unwrap() = None;
                // Said once per outage (and once at start when Redis is not there).
                if shared.up.swap(false, Ordering::Relaxed) || !announced_down {
                    shared.refusals.lock().unwrap().quiet = false;
                    log_down(&why);
                    announced_down = true;
                }
            }
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// Checks the current connection, or connects and checks the new one (a cluster that
/// answers from some seeds may still miss a primary).
async fn check(
    target: &Target,
    connection: Option<Connection>,
    current: &Current,
    timeout: Duration,
) -> Result<(), String> {
    let mut c = match connection {
        Some(c) => c,
        None => {
            let c = target.connect(timeout).await?;
            *current.lock().unwrap() = Some(c.clone());
            c
        }
    };
    match tokio::time::timeout(response_timeout(timeout), c.check()).await {
        Ok(outcome) => outcome,
        Err(_) => Err("PING timed out".into()),
    }
}
