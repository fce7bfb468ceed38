//! A renewal asked of one name (`POST /api/certificates/NAME/renew`), held until the
//! name's task has ordered: it outlives the task, which a reload that changes the name's
//! settings aborts and starts again. A wakeup alone was lost when it woke the task being
//! aborted (a renewal asked just after such a reload never happened).
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

#[derive(Default)]
pub(super) struct RenewRequest {
    /// Renewals asked and not yet ordered.
    pending: AtomicU64,
    wake: Notify,
}

impl RenewRequest {
    pub fn ask(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// How many renewals are asked now (what an order about to start will answer).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Returns once a renewal is asked: at once if one was asked before.
    pub async fn asked(&self) {
        loop {
            // Registered before the count is read, so that an ask in between wakes it.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.pending() > 0 {
                return;
            }
            woken.await;
        }
    }

    /// The `seen` renewals (read by [`pending`](Self::pending) before the order) are done;
    /// one asked since stays asked.
    pub fn done(&self, seen: u64) {
        self.pending.fetch_sub(seen, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::RenewRequest;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn an_ask_outlives_the_waiter_it_woke() {
        let request = Arc::new(RenewRequest::default());
        // A task waiting, woken by the ask, then aborted before it ordered.
        let waiter = tokio::spawn({
            let request = request.clone();
            async move { request.asked().await }
        });
        tokio::task::yield_now().await;
        request.ask();
        waiter.abort();
        // Its successor finds the renewal asked, at once.
        let found = tokio::time::timeout(Duration::from_secs(1), request.asked()).await;
        assert!(found.is_ok(), "the ask was lost with the aborted waiter");
        let seen = request.pending();
        request.ask(); // during the order
        request.done(seen);
        assert_eq!(request.pending(), 1, "an ask during the order stays asked");
        request.done(1);
        let idle = tokio::time::timeout(Duration::from_millis(50), request.asked()).await;
        assert!(idle.is_err(), "nothing asked: it waits");
    }
}
