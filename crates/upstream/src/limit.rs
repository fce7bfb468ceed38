//! Protecting a struggling upstream: at most `max_requests` requests with it at once
//! (across workers); up to `queue` more wait, each at most `queue_timeout`, for a slot;
//! beyond that, the answer is 503 at once.
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// `max_requests`, `queue`, `queue_timeout` of `[upstream.NAME]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub max_requests: u32,
    pub queue: u32,
    pub queue_timeout: Duration,
}

/// Why a request got no slot.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    QueueFull,
    TimedOut,
}

/// The slots of one upstream, kept across reloads (the limits themselves may change).
#[derive(Debug, Default)]
pub struct Slots {
    busy: AtomicU32,
    waiting: AtomicU32,
    freed: Notify,
}

/// A slot held by one request until dropped.
#[derive(Debug)]
pub struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
        if self.0.waiting.load(Ordering::Acquire) > 0 {
            self.0.freed.notify_one();
        }
    }
}

impl Slots {
    /// A slot now, or after waiting in the queue.
    pub async fn acquire(self: &Arc<Self>, limits: &Limits) -> Result<Slot, Refused> {
        if self.try_take(limits.max_requests) {
            return Ok(Slot(self.clone()));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= limits.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::QueueFull);
        }
        let waited = tokio::time::timeout(limits.queue_timeout, async {
            loop {
                let freed = self.freed.notified();
                tokio::pin!(freed);
                // Registered before looking, so a slot freed in between is not missed.
                freed.as_mut().enable();
                if self.try_take(limits.max_requests) {
                    return;
                }
                freed.await;
            }
        })
        .await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(()) => Ok(Slot(self.clone())),
            Err(_) => Err(Refused::TimedOut),
        }
    }

    fn try_take(&self, max: u32) -> bool {
        self.busy.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok()
    }

    pub fn busy(&self) -> u32 {
        self.busy.load(Ordering::Relaxed)
    }

    pub fn waiting(&self) -> u32 {
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_a_slot_then_refuses() {
        let slots = Arc::new(Slots::default());
        let limits = Limits { max_requests: 1, queue: 1, queue_timeout: Duration::from_millis(300) };
        let first = slots.acquire(&limits).await.unwrap();
        let (s, l) = (slots.clone(), limits.clone());
        let queued = tokio::spawn(async move { s.acquire(&l).await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(slots.acquire(&limits).await.unwrap_err(), Refused::QueueFull);
        drop(first);
        assert_eq!(queued.await.unwrap(), Ok(()), "the queued request got the freed slot");
        let held = slots.acquire(&limits).await.unwrap();
        assert_eq!(slots.acquire(&limits).await.unwrap_err(), Refused::TimedOut);
        drop(held);
        assert_eq!(slots.busy(), 0);
    }
}
