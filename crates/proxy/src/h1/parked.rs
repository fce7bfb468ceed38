//! A keep-alive connection between requests.
//!
//! A task keeps room for its future's largest state all its life, and the task that
//! accepted a connection (TLS, the PROXY protocol, the first read) is over a kilobyte. So
//! once a connection has been idle for the park delay, the accepting task ends and the
//! connection waits with only what it needs to resume:
//!
//! - a plain connection, in the worker's lot (`crate::parking`): its socket, out of the
//!   reactor, in the lot's epoll set, and one box ([`InLot`]); no task and no timer of its
//!   own;
//! - a TLS one (its session state is the TLS library's), or one whose socket a request
//!   body still holds, in a small task of its own ([`Parked`]) holding its box.
//!
//! The next request gets a task of its own again (small too: the busy spell it runs is
//! boxed), which parks the same way.
use super::idle::IdleTimer;
use super::inbound::{Rest, Shared};
use super::Limits;
use crate::conn::Conn;
use crate::drain::DrainWatch;
use crate::parking::Resting;
use crate::worker::Worker;
use std::future::Future;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use tokio::time::Instant;

/// Everything a client connection keeps from one request to the next.
pub(super) struct Connection<G> {
    pub worker: Rc<Worker>,
    pub conn: Conn,
    pub limits: Limits,
    pub shared: Held,
    pub drain: DrainWatch,
    pub idle: IdleTimer,
    /// What the accepting stage holds for the connection's life (its place in the open
    /// count, its admissions), let go when the connection closes.
    pub _guards: G,
}

impl<G> Connection<G> {
    /// A connection starting a busy spell on `shared`: a fresh drain watch and timers.
    pub fn busy(worker: Rc<Worker>, conn: Conn, limits: Limits, shared: Rc<Shared>, guards: G) -> Box<Connection<G>> {
        let drain = worker.drain.watch();
        let idle = limits.idle_timer();
        Box::new(Connection { worker, conn, limits, shared: Held::new(shared), drain, idle, _guards: guards })
    }
}

/// The connection's hold on its socket.
pub(super) struct Held(Option<Rc<Shared>>);

impl Held {
    pub fn new(shared: Rc<Shared>) -> Held {
        Held(Some(shared))
    }

    fn take(mut self) -> Rc<Shared> {
        self.0.take().expect("held until taken")
    }
}

impl Deref for Held {
    type Target = Rc<Shared>;

    fn deref(&self) -> &Rc<Shared> {
        self.0.as_ref().expect("held until taken")
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // The socket closes when its last holder lets go. One still held (by a request
        // body being forwarded) is shut for writing now: the end of the last response may
        // be waiting in the kernel for the close.
        if let Some(shared) = &self.0 {
            if Rc::strong_count(shared) > 1 {
                let _ = shared.shut_write();
            }
        }
    }
}

/// Parks a connection idle for the park delay until its next bytes; `resume` serves it
/// again (`super::serve_spells`).
pub(super) fn park<G: 'static, F: Future<Output = ()> + 'static>(
    c: Connection<G>,
    resume: fn(Box<Connection<G>>) -> F,
) {
    let Connection { worker, conn, limits, shared, drain, idle, _guards } = c;
    let shared = match Rc::try_unwrap(shared.take()) {
        Ok(alone) => match alone.into_resting() {
            Rest::Socket(socket, writes) => {
                drop((drain, idle));
                let deadline = Instant::now() + limits.keepalive_timeout.saturating_sub(limits.park_after);
                let lot = worker.clone();
                let resting = InLot { socket, writes, worker, conn, limits, guards: _guards, resume };
                return lot.parking.park(Box::new(resting), deadline);
            }
            Rest::Closed => return,
            Rest::Busy(alone) => Rc::new(alone),
        },
        Err(still_held) => still_held,
    };
    // Into a new box: made while the connection was busy, the old one sits among that
    // request's short-lived allocations, whose freed room it keeps from going back to the
    // system.
    let c = Box::new(Connection { worker, conn, limits, shared: Held::new(shared), drain, idle, _guards });
    tokio::task::spawn_local(Parked { connection: Some(c), resume });
}

/// A plain connection in the worker's lot.
struct InLot<G, F> {
    socket: std::net::TcpStream,
    /// The connection's count of writes (whether `TCP_NODELAY` is on).
    writes: u8,
    worker: Rc<Worker>,
    conn: Conn,
    limits: Limits,
    guards: G,
    resume: fn(Box<Connection<G>>) -> F,
}

impl<G: 'static, F: Future<Output = ()> + 'static> Resting for InLot<G, F> {
    fn socket(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn wake(self: Box<Self>) {
        let InLot { socket, writes, worker, conn, limits, guards, resume } = *self;
        let Ok(stream) = tokio::net::TcpStream::from_std(socket) else { return };
        let c = Connection::busy(worker, conn, limits, Shared::resumed(stream, writes), guards);
        tokio::task::spawn_local(resume(c));
    }
}

/// The task of a parked connection that cannot wait in the lot: wakes on the client's
/// next bytes (or its close) and hands the connection to a new busy task; ends it on the
/// keep-alive timeout or a drain.
struct Parked<G, F> {
    connection: Option<Box<Connection<G>>>,
    resume: fn(Box<Connection<G>>) -> F,
}

impl<G, F: Future<Output = ()> + 'static> Future for Parked<G, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(c) = this.connection.as_mut() else { return Poll::Ready(()) };
        if c.shared.stream.poll_read_ready(cx).is_ready() {
            let c = this.connection.take().expect("checked above");
            tokio::task::spawn_local((this.resume)(c));
            return Poll::Ready(());
        }
        if c.drain.poll_drain(cx).is_ready() || c.idle.poll(cx, false).is_ready() {
            this.connection = None; // closes
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
