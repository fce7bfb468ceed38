//! The timers of a connection waiting for its next request head: keep-alive (nothing
//! received), header (a head has started but is not complete: slowloris), and park (idle a
//! while: give the read buffer back).
//!
//! One timer per connection, and lazy: a busy keep-alive connection costs no timer
//! operation per request. It is armed once; when it fires it checks whether a request
//! arrived since it was armed, and if so it is armed again. An idle connection therefore
//! closes between one keep-alive timeout and that plus the park delay after its last
//! request. The header timer starts at the first wait on a partial head.
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// Idle for less than the park delay.
    Park,
    /// Parked; waiting for the rest of the keep-alive timeout.
    KeepAlive,
    /// A partial head is waiting for its end.
    Header,
}

/// What ended a wait.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fired {
    /// Idle for the park delay: the connection should give back its buffers.
    Park,
    /// The keep-alive or header timeout ran out: close.
    Expired,
}

pub(super) struct IdleTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The timer has been polled since it was last armed.
    registered: bool,
    stage: Stage,
    requests: u64,
    armed_at_request: u64,
    park_after: Duration,
    keepalive: Duration,
    header: Duration,
}

impl IdleTimer {
    pub fn new(park_after: Duration, keepalive: Duration, header: Duration) -> IdleTimer {
        IdleTimer {
            sleep: None,
            registered: false,
            stage: Stage::Park,
            requests: 0,
            armed_at_request: 0,
            park_after: park_after.min(keepalive),
            keepalive,
            header,
        }
    }

    /// A complete request head has arrived.
    pub fn request_seen(&mut self) {
        self.requests += 1;
    }

    fn arm(&mut self, stage: Stage) {
        let after = match stage {
            Stage::Park => self.park_after,
            Stage::KeepAlive => self.keepalive.saturating_sub(self.park_after),
            Stage::Header => self.header,
        };
        let deadline = Instant::now() + after;
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        self.stage = stage;
        self.armed_at_request = self.requests;
        self.registered = false;
    }

    /// Polls the timer while the connection waits for bytes; `partial_head` says whether
    /// a head has started.
    pub fn poll(&mut self, cx: &mut Context<'_>, partial_head: bool) -> Poll<Fired> {
        if self.sleep.is_none() || (partial_head && self.stage != Stage::Header) {
            self.arm(if partial_head { Stage::Header } else { Stage::Park });
        }
        loop {
            let sleep = self.sleep.as_mut().expect("armed above");
            // Once polled, the timer keeps this task's waker until it fires: checking it is
            // enough (a poll registers the waker again, on every wait of a busy connection).
            if self.registered && !sleep.is_elapsed() {
                return Poll::Pending;
            }
            self.registered = true;
            ready!(sleep.as_mut().poll(cx));
            let active = self.requests != self.armed_at_request;
            match self.stage {
                _ if active => self.arm(if partial_head { Stage::Header } else { Stage::Park }),
                Stage::Header if partial_head => return Poll::Ready(Fired::Expired),
                Stage::Header => self.arm(Stage::Park),
                Stage::Park => {
                    // A new timer for the long wait, for the reason `h1::serve_spells`
                    // moves the connection's box when it parks.
                    self.sleep = None;
                    self.arm(Stage::KeepAlive);
                    return Poll::Ready(Fired::Park);
                }
                Stage::KeepAlive => return Poll::Ready(Fired::Expired),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn wait(timer: &mut IdleTimer, partial: bool) -> Fired {
        std::future::poll_fn(|cx| timer.poll(cx, partial)).await
    }

    #[tokio::test(start_paused = true)]
    async fn idle_parks_then_expires_and_activity_postpones() {
        let ms = Duration::from_millis;
        let mut t = IdleTimer::new(ms(500), ms(800), ms(300));
        let start = Instant::now();
        assert_eq!(wait(&mut t, false).await, Fired::Park);
        assert_eq!(start.elapsed(), ms(500));
        assert_eq!(wait(&mut t, false).await, Fired::Expired);
        assert_eq!(start.elapsed(), ms(800));

        let mut t = IdleTimer::new(ms(500), ms(800), ms(300));
        let start = Instant::now();
        let _ = tokio::time::timeout(ms(200), wait(&mut t, false)).await;
        t.request_seen();
        assert_eq!(wait(&mut t, false).await, Fired::Park);
        assert_eq!(start.elapsed(), ms(1000), "re-armed once after the request");

        let mut t = IdleTimer::new(ms(500), ms(800), ms(300));
        let start = Instant::now();
        assert_eq!(wait(&mut t, true).await, Fired::Expired);
        assert_eq!(start.elapsed(), ms(300));
    }
}
