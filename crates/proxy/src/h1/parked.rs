//! A keep-alive connection between requests, as a task of its own.
//!
//! A task keeps room for its future's largest state all its life, and the task that
//! accepted a connection (TLS, the PROXY protocol, the first read) is over a kilobyte. So
//! once a connection has been idle for the park delay, its state moves into one small box
//! ([`Connection`]), the accepting task ends, and a task holding only that box waits for
//! the next bytes, the keep-alive timeout or a drain. The next request gets a task of its
//! own again (small too: the busy spell it runs is boxed), which parks the same way.
//! An idle connection then costs its socket, this box, its timer and a task header.
use super::idle::IdleTimer;
use super::inbound::Shared;
use super::Limits;
use crate::conn::Conn;
use crate::drain::DrainWatch;
use crate::worker::Worker;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Everything a client connection keeps from one request to the next.
pub(super) struct Connection<G> {
    pub worker: Rc<Worker>,
    pub conn: Conn,
    pub limits: Limits,
    pub shared: Rc<Shared>,
    pub drain: DrainWatch,
    pub idle: IdleTimer,
    /// What the accepting stage holds for the connection's life (its place in the open
    /// count, its admissions), let go when the connection closes.
    pub _guards: G,
}

impl<G> Drop for Connection<G> {
    fn drop(&mut self) {
        // The socket closes when its last holder lets go. One still held (by a request
        // body being forwarded) is shut for writing now: the end of the last response may
        // be waiting in the kernel for the close.
        if Rc::strong_count(&self.shared) > 1 {
            let _ = self.shared.shut_write();
        }
    }
}

/// The task of a parked connection: wakes on the client's next bytes (or its close) and
/// hands the connection to a new busy task; ends it on the keep-alive timeout or a drain.
pub(super) struct Parked<G, F> {
    connection: Option<Box<Connection<G>>>,
    /// Serves the connection once bytes arrive (`super::serve_spells`).
    resume: fn(Box<Connection<G>>) -> F,
}

impl<G: 'static, F: Future<Output = ()> + 'static> Parked<G, F> {
    /// Parks `connection` in a task of its own.
    pub fn spawn(connection: Box<Connection<G>>, resume: fn(Box<Connection<G>>) -> F) {
        tokio::task::spawn_local(Parked { connection: Some(connection), resume });
    }
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
