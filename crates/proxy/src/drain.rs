//! Telling every connection of a worker to finish (graceful shutdown) without each
//! connection polling a shared signal every time it wakes: a connection registers its
//! waker in a per-worker slab, and draining wakes each one once.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// One worker's connections, as far as shutdown is concerned.
#[derive(Default)]
pub struct Drain {
    draining: Cell<bool>,
    slots: RefCell<Slots>,
}

#[derive(Default)]
struct Slots {
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
}

/// A connection's view of its worker's drain; deregisters when dropped.
pub struct DrainWatch {
    drain: Rc<Drain>,
    slot: usize,
}

impl Drain {
    /// Registers a connection.
    pub fn watch(self: &Rc<Self>) -> DrainWatch {
        let mut slots = self.slots.borrow_mut();
        let slot = match slots.free.pop() {
            Some(i) => i,
            None => {
                slots.wakers.push(None);
                slots.wakers.len() - 1
            }
        };
        DrainWatch { drain: self.clone(), slot }
    }

    /// Whether the worker has begun to drain.
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }

    /// Every connection, now and later, is told to finish.
    pub fn start(&self) {
        self.draining.set(true);
        let wakers: Vec<Waker> = self.slots.borrow_mut().wakers.iter_mut().filter_map(Option::take).collect();
        for w in wakers {
            w.wake();
        }
    }
}

impl DrainWatch {
    /// Ready once the worker drains; otherwise remembers who to wake.
    pub fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.drain.draining.get() {
            return Poll::Ready(());
        }
        let mut slots = self.drain.slots.borrow_mut();
        let slot = &mut slots.wakers[self.slot];
        match slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub fn is_draining(&self) -> bool {
        self.drain.draining.get()
    }

    /// A future that completes when the worker drains.
    pub fn drained(&self) -> impl std::future::Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| self.poll_drain(cx))
    }
}

impl Drop for DrainWatch {
    fn drop(&mut self) {
        let mut slots = self.drain.slots.borrow_mut();
        slots.wakers[self.slot] = None;
        slots.free.push(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn draining_wakes_each_registered_connection_once() {
        let drain = Rc::new(Drain::default());
        let counter = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let a = drain.watch();
        let b = drain.watch();
        assert!(a.poll_drain(&mut cx).is_pending() && b.poll_drain(&mut cx).is_pending());
        drop(b);
        let c = drain.watch(); // reuses b's slot
        assert!(c.poll_drain(&mut cx).is_pending());
        drain.start();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        assert!(a.poll_drain(&mut cx).is_ready() && drain.watch().poll_drain(&mut cx).is_ready());
    }
}
