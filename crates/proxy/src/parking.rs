//! Where a worker's idle keep-alive connections wait for their next request: an epoll set
//! of the worker's own, watched by one task with one timer, instead of a task, a timer and
//! a reactor registration for each connection.
//!
//! In tokio, an idle connection waiting on its own costs its task (128 bytes), its
//! reactor registration (256, cache-line aligned), a timer (112) and the state it keeps
//! to resume (300 and more); nginx's idle connection costs about 700 bytes in all. In the
//! lot a connection is its socket (out of the reactor, its entry in the lot's epoll set
//! is the kernel's), one box of what it needs to resume, and a slot and a deadline in two
//! dense vectors. The lot's epoll set is itself registered with the worker's reactor, so
//! the worker's one thread wakes for it as for any socket.
//!
//! A connection leaves the lot when it becomes readable (a request, or the client's close:
//! [`Resting::wake`] serves it again), when its keep-alive deadline passes, or when the
//! worker drains (both close it: dropping a [`Resting`] closes its socket).
use crate::drain::{Drain, DrainWatch};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A connection waiting in the lot. Dropping it closes it.
pub trait Resting {
    /// The socket to watch for the client's next bytes (or its close).
    fn socket(&self) -> RawFd;
    /// The socket is readable: serve the connection again.
    fn wake(self: Box<Self>);
}

/// A worker's lot. The watching task owns it; the worker keeps a weak reference, so that
/// the connections in it (which hold the worker) do not keep each other alive once the
/// worker's runtime has ended.
pub struct Lot {
    inner: RefCell<Weak<Inner>>,
    /// The worker's: the lot closes its connections when the worker drains.
    drain: Rc<Drain>,
}

impl Lot {
    pub fn new(drain: Rc<Drain>) -> Lot {
        Lot { inner: RefCell::default(), drain }
    }

    /// Parks `resting` until it is readable or `deadline` passes. A connection that cannot
    /// be parked (the worker drains, the kernel refuses the registration) is closed.
    pub fn park(&self, resting: Box<dyn Resting>, deadline: Instant) {
        if self.drain.is_draining() {
            return;
        }
        let running = self.inner.borrow().upgrade();
        let inner = match running {
            Some(inner) => inner,
            None => match Inner::start(&self.drain) {
                Ok(inner) => {
                    *self.inner.borrow_mut() = Rc::downgrade(&inner);
                    inner
                }
                Err(e) => return tracing::warn!(error = %e, "cannot make the idle connections' epoll set; closing one"),
            },
        };
        if let Err(e) = inner.add(resting, deadline) {
            tracing::debug!(error = %e, "an idle connection could not be parked; closed");
        }
    }

    /// How many connections wait in the lot.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.borrow().upgrade().map_or(0, |inner| inner.slots.borrow().live)
    }
}

struct Inner {
    epoll: AsyncFd<OwnedFd>,
    slots: RefCell<Slots>,
    /// Deadlines, earliest first, with the slot and generation they were set for; an entry
    /// whose slot has moved on since is skipped when it comes up.
    deadlines: RefCell<BinaryHeap<Reverse<(Instant, u32, u32)>>>,
    /// Wakes the task when a deadline earlier than all others arrives.
    earlier: Notify,
}

#[derive(Default)]
struct Slots {
    entries: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

struct Slot {
    resting: Option<Box<dyn Resting>>,
    /// Counts the slot's uses, so that an epoll event or a deadline for an earlier
    /// occupant does not touch a later one.
    generation: u32,
    deadline: Instant,
}

/// What the epoll set says of a connection: its slot and that slot's generation.
fn token(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

impl Inner {
    fn start(drain: &Rc<Drain>) -> io::Result<Rc<Inner>> {
        // SAFETY: a plain system call; the descriptor it returns is owned here.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns; the `OwnedFd` keeps it open,
        // and the same, for the `AsyncFd`'s life.
        let epoll = unsafe { AsyncFd::register_with_interest(OwnedFd::from_raw_fd(fd), Interest::READABLE) }
            .map_err(io::Error::from)?;
        let inner =
            Rc::new(Inner { epoll, slots: RefCell::default(), deadlines: RefCell::default(), earlier: Notify::new() });
        tokio::task::spawn_local(watch(inner.clone(), drain.watch()));
        Ok(inner)
    }

    fn add(&self, resting: Box<dyn Resting>, deadline: Instant) -> io::Result<()> {
        let fd = resting.socket();
        let (index, generation) = self.slots.borrow_mut().insert(resting, deadline);
        // Level-triggered: bytes that arrived before the registration are reported at once.
        let mut event =
            libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32, u64: token(index, generation) };
        // SAFETY: both descriptors are open (the socket is owned by the slot's occupant).
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            let e = io::Error::last_os_error();
            let refused = self.slots.borrow_mut().take(index, generation);
            drop(refused); // closes
            return Err(e);
        }
        let mut deadlines = self.deadlines.borrow_mut();
        let earliest = deadlines.peek().is_none_or(|Reverse((at, ..))| deadline < *at);
        deadlines.push(Reverse((deadline, index, generation)));
        drop(deadlines);
        if earliest {
            self.earlier.notify_one();
        }
        self.compact();
        Ok(())
    }

    /// Takes the connection in slot `index` out of the lot and the epoll set.
    fn remove(&self, index: u32, generation: u32) -> Option<Box<dyn Resting>> {
        let resting = self.slots.borrow_mut().take(index, generation)?;
        // SAFETY: the socket is open (owned by `resting`); a null event is allowed for DEL.
        unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, resting.socket(), std::ptr::null_mut()) };
        Some(resting)
    }

    /// Wakes the connections the epoll set reports readable; true when it reported all
    /// it had (its readiness can be forgotten).
    fn wake_readable(&self) -> bool {
        const AT_ONCE: usize = 64;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; AT_ONCE];
        // SAFETY: `events` has room for AT_ONCE entries; a zero timeout never blocks.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), events.as_mut_ptr(), AT_ONCE as i32, 0) };
        if n < 0 {
            return io::Error::last_os_error().kind() != io::ErrorKind::Interrupted;
        }
        for event in &events[..n as usize] {
            let token = event.u64;
            if let Some(resting) = self.remove(token as u32, (token >> 32) as u32) {
                resting.wake();
            }
        }
        (n as usize) < AT_ONCE
    }

    /// Closes the connections whose deadline has passed; the next deadline, if any.
    fn expire(&self, now: Instant) -> Option<Instant> {
        loop {
            let top = self.deadlines.borrow().peek().map(|Reverse(d)| *d);
            let (at, index, generation) = top?;
            if at > now {
                return Some(at);
            }
            self.deadlines.borrow_mut().pop();
            drop(self.remove(index, generation));
            self.compact();
        }
    }

    /// Rebuilds the deadlines from the live slots once most of them are stale (their
    /// connections woke long before their deadline), so that connections that park and
    /// wake over and over do not grow the heap.
    fn compact(&self) {
        let slots = self.slots.borrow();
        let mut deadlines = self.deadlines.borrow_mut();
        if deadlines.len() <= 2 * slots.live + 64 {
            return;
        }
        *deadlines = (slots.entries.iter().enumerate())
            .filter(|(_, s)| s.resting.is_some())
            .map(|(i, s)| Reverse((s.deadline, i as u32, s.generation)))
            .collect();
    }

    /// Closes every connection in the lot.
    fn close_all(&self) {
        let taken: Vec<_> = {
            let mut slots = self.slots.borrow_mut();
            slots.live = 0;
            slots.free.clear();
            std::mem::take(&mut slots.entries).into_iter().filter_map(|s| s.resting).collect()
        };
        self.deadlines.borrow_mut().clear();
        drop(taken); // closing a socket takes it out of the epoll set
    }
}

impl Slots {
    fn insert(&mut self, resting: Box<dyn Resting>, deadline: Instant) -> (u32, u32) {
        self.live += 1;
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.entries[index as usize];
                slot.generation = slot.generation.wrapping_add(1);
                slot.resting = Some(resting);
                slot.deadline = deadline;
                (index, slot.generation)
            }
            None => {
                self.entries.push(Slot { resting: Some(resting), generation: 0, deadline });
                ((self.entries.len() - 1) as u32, 0)
            }
        }
    }

    fn take(&mut self, index: u32, generation: u32) -> Option<Box<dyn Resting>> {
        let slot = self.entries.get_mut(index as usize).filter(|s| s.generation == generation)?;
        let resting = slot.resting.take()?;
        self.live -= 1;
        self.free.push(index);
        Some(resting)
    }
}

/// The lot's task: wakes readable connections, closes expired ones, and closes them all
/// when the worker drains.
async fn watch(inner: Rc<Inner>, drain: DrainWatch) {
    let mut next = None;
    loop {
        let deadline = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = drain.drained() => break,
            ready = inner.epoll.readable() => match ready {
                Ok(mut guard) => {
                    if inner.wake_readable() {
                        guard.clear_ready();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the idle connections' epoll set failed; closing them");
                    break;
                }
            },
            _ = deadline => {}
            _ = inner.earlier.notified() => {}
        }
        next = inner.expire(Instant::now());
    }
    inner.close_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A resting connection that records its wake-up, and whether it was dropped unwoken.
    struct Probe {
        socket: TcpStream,
        woken: Rc<Cell<usize>>,
        closed: Rc<Cell<usize>>,
        was_woken: bool,
    }

    impl Resting for Probe {
        fn socket(&self) -> RawFd {
            self.socket.as_raw_fd()
        }
        fn wake(mut self: Box<Self>) {
            self.woken.set(self.woken.get() + 1);
            self.was_woken = true;
        }
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            if !self.was_woken {
                self.closed.set(self.closed.get() + 1);
            }
        }
    }

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (client, server)
    }

    /// Waits until `holds` (the lot's task runs meanwhile), at most a few seconds on a
    /// busy machine.
    async fn until(what: &str, holds: impl Fn() -> bool) {
        let start = std::time::Instant::now();
        while !holds() {
            assert!(start.elapsed() < Duration::from_secs(5), "never: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn readable_connections_wake_idle_ones_expire_and_a_drain_closes_the_rest() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        tokio::task::LocalSet::new().block_on(&rt, async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let drain = Rc::new(Drain::default());
            let lot = Lot::new(drain.clone());
            let (woken, closed) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
            let probe =
                |socket| Box::new(Probe { socket, woken: woken.clone(), closed: closed.clone(), was_woken: false });
            let later = Instant::now() + Duration::from_secs(60);
            // Bytes already there when parked, bytes that come later, the client's close.
            let (mut early, server) = pair(&listener);
            early.write_all(b"GET").unwrap();
            lot.park(probe(server), later);
            let (mut late, server) = pair(&listener);
            lot.park(probe(server), later);
            let (gone, server) = pair(&listener);
            lot.park(probe(server), later);
            let (_idle, server) = pair(&listener);
            lot.park(probe(server), later);
            assert_eq!(lot.len(), 4);
            until("the one with bytes woke", || (woken.get(), lot.len()) == (1, 3)).await;
            late.write_all(b"GET").unwrap();
            drop(gone);
            until("bytes and a close woke theirs", || (woken.get(), lot.len()) == (3, 1)).await;
            assert_eq!(closed.get(), 0);

            // A deadline passes: closed, and the client sees the close.
            let (mut expiring, server) = pair(&listener);
            lot.park(probe(server), Instant::now() + Duration::from_millis(100));
            assert_eq!(lot.len(), 2);
            until("the deadline closed it", || (closed.get(), lot.len()) == (1, 1)).await;
            expiring.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(expiring.read(&mut [0u8; 8]).unwrap(), 0);

            // Slots are reused; stale deadlines (skipped when they come up, or compacted
            // away) do not touch a later occupant.
            for i in 1..=100 {
                let (mut c, server) = pair(&listener);
                lot.park(probe(server), Instant::now() + Duration::from_millis(300));
                c.write_all(b"x").unwrap();
                until("each woke", || woken.get() == 3 + i).await;
            }
            assert_eq!((closed.get(), lot.len()), (1, 1), "none closed, the idle one still there");

            drain.start();
            until("the drain closed the idle one", || (closed.get(), lot.len()) == (2, 0)).await;
            let (_c, server) = pair(&listener);
            lot.park(probe(server), later);
            assert_eq!((closed.get(), lot.len()), (3, 0), "nothing is parked while draining");
        });
    }
}
