//! Connection pacing: how many new connections one worker may be opening to one server at
//! once. A burst of hundreds of requests (new HTTP/2 streams, a cold pool) would otherwise
//! open hundreds of connections in the same millisecond, overflow the server's accept
//! queue and leave some to the kernel's one-second SYN retry. Requests beyond the cap wait
//! for whichever comes first: a connection given back to the pool, or a free connect slot.
//! A request whose own connect is in progress takes a connection given back meanwhile.
//!
//! [`paced`] is that policy, for every kind of HTTP/1.1 connection the pool keeps (the
//! inline client's, and hyper's for bodies that stream and for TLS servers).
use crate::error::UpstreamError;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// Connects one worker may have in progress to one server.
pub const MAX_CONNECTING: u32 = 32;

/// The connects in progress to one server from one worker, and the requests waiting.
#[derive(Debug, Default)]
pub struct Pacer {
    connecting: Cell<u32>,
    waiters: Cell<u32>,
    wake: Notify,
    /// Requests with a connect of their own in progress, waiting on `returned` too. Their
    /// own wake-ups: were they woken through `wake`, a freed slot meant for a waiter could
    /// be taken by one that has a slot already, and the waiter left to its timeout.
    racing: Cell<u32>,
    returned: Notify,
}

/// A connect in progress; dropping it frees the slot and wakes one waiter.
pub struct ConnectSlot(Rc<Pacer>);

impl Drop for ConnectSlot {
    fn drop(&mut self) {
        self.0.connecting.set(self.0.connecting.get() - 1);
        self.0.wake_one();
    }
}

impl Pacer {
    /// A connect slot, if fewer than [`MAX_CONNECTING`] connects are in progress.
    pub fn try_start(self: &Rc<Self>) -> Option<ConnectSlot> {
        let n = self.connecting.get();
        (n < MAX_CONNECTING).then(|| {
            self.connecting.set(n + 1);
            ConnectSlot(self.clone())
        })
    }

    /// Waits until a connection comes back or a slot frees (or spuriously: callers check
    /// again and may wait again).
    pub async fn wait(&self) {
        self.waiters.set(self.waiters.get() + 1);
        let _waiting = Counted(&self.waiters);
        self.wake.notified().await;
    }

    /// Waits until a connection is given back (or spuriously), for a request whose own
    /// connect is in progress.
    pub async fn returned(&self) {
        self.racing.set(self.racing.get() + 1);
        let _racing = Counted(&self.racing);
        self.returned.notified().await;
    }

    /// Wakes one waiting request, if any (a `Cell` read when none waits: the hot path).
    #[inline]
    fn wake_one(&self) {
        if self.waiters.get() > 0 {
            self.wake.notify_one();
        }
    }

    /// A connection was given back: one waiting request and every racing one may take it
    /// (whoever comes second checks the pool and finds none, and waits on).
    #[inline]
    pub fn connection_returned(&self) {
        self.wake_one();
        if self.racing.get() > 0 {
            self.returned.notify_waiters();
        }
    }

    /// Whether a connect is in progress or a request waits (the pool keeps its entry).
    pub fn busy(&self) -> bool {
        self.connecting.get() > 0 || self.waiters.get() > 0
    }
}

/// A connection for a request that found none idle: a new one (`open`) if fewer than
/// [`MAX_CONNECTING`] are being opened to this server (counted by its `pacer`, taken
/// anew at each turn: the pool drops an endpoint's entry when nothing uses it), else the
/// first that is given back (`idle`) or may be opened, within `within` (a wait past it
/// counts in `timeouts`). With `fresh`, only a new one (a pooled connection just failed).
/// The flag says whether the connection was pooled.
///
/// A request that opens one still takes a connection given back meanwhile: a connect
/// whose SYN a full accept queue dropped waits a second for the kernel's retry, where the
/// next exchange to end frees one in milliseconds. The opening then goes on in
/// `keep_opening`, which holds its slot until it ends and pools what it opens.
pub(crate) async fn paced<C, Idle, Open>(
    pacer: impl Fn() -> Rc<Pacer>,
    within: Duration,
    fresh: bool,
    timeouts: &AtomicU64,
    mut idle: impl FnMut() -> Idle,
    open: impl FnOnce() -> Open,
    keep_opening: impl FnOnce(Pin<Box<Open>>, ConnectSlot),
) -> Result<(C, bool), UpstreamError>
where
    Idle: Future<Output = Option<C>>,
    Open: Future<Output = Result<C, UpstreamError>> + 'static,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if !fresh {
            if let Some(conn) = idle().await {
                return Ok((conn, true));
            }
        }
        let pacer = pacer();
        if let Some(slot) = pacer.try_start() {
            let mut opening = Box::pin(open());
            loop {
                tokio::select! {
                    biased;
                    conn = &mut opening => {
                        drop(slot);
                        return Ok((conn?, false));
                    }
                    () = pacer.returned(), if !fresh => {
                        if let Some(conn) = idle().await {
                            keep_opening(opening, slot);
                            return Ok((conn, true));
                        }
                    }
                }
            }
        }
        if tokio::time::timeout_at(deadline, pacer.wait()).await.is_err() {
            timeouts.fetch_add(1, Ordering::Relaxed);
            return Err(UpstreamError::ConnectTimeout);
        }
    }
}

/// One of the requests a counter counts, until dropped.
struct Counted<'a>(&'a Cell<u32>);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn slots_are_capped_and_a_freed_slot_wakes_a_waiter() {
        let pacer = Rc::new(Pacer::default());
        let slots: Vec<_> = (0..MAX_CONNECTING).map(|_| pacer.try_start().unwrap()).collect();
        assert!(pacer.try_start().is_none(), "the cap holds");
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let p = pacer.clone();
                let waiter = tokio::task::spawn_local(async move {
                    p.wait().await;
                    p.try_start().is_some()
                });
                tokio::task::yield_now().await;
                assert!(pacer.busy());
                drop(slots);
                assert!(waiter.await.unwrap(), "the woken request finds a free slot");
            })
            .await;
        assert!(!pacer.busy());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_freed_slot_wakes_a_waiter_and_a_returned_connection_wakes_the_racing_too() {
        let pacer = Rc::new(Pacer::default());
        let mut slots: Vec<_> = (0..MAX_CONNECTING).map(|_| pacer.try_start().unwrap()).collect();
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let (p, q) = (pacer.clone(), pacer.clone());
                let racing = tokio::task::spawn_local(async move { p.returned().await });
                let waiting = tokio::task::spawn_local(async move { q.wait().await });
                tokio::task::yield_now().await;
                // A slot frees: the waiter, which may take it, wakes; the racing one, which
                // has one, does not take its wake-up.
                slots.pop();
                waiting.await.unwrap();
                tokio::task::yield_now().await;
                assert!(!racing.is_finished(), "a freed slot woke a request that has one");
                pacer.connection_returned();
                racing.await.unwrap();
            })
            .await;
        drop(slots);
        assert!(!pacer.busy());
    }
}
