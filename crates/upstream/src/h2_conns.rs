//! One worker's multiplexed (HTTP/2) upstream connections: one per endpoint, open or being
//! opened. A request that finds one being opened waits for it rather than open its own, so
//! a burst of requests to an h2c or h2 server with no connection yet opens one connection,
//! which they all share, not one each that all but one would drop after a single exchange
//! (the burst the HTTP/1.1 pool paces, `pacing.rs`).
use hyper::client::conn::http2::SendRequest;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::sync::Notify;

enum Entry<B> {
    Open(SendRequest<B>),
    /// Being opened; notified when that ends, whether it opened or not.
    Opening(Rc<Notify>),
}

/// What an endpoint has.
pub(crate) enum Found<B> {
    Open(SendRequest<B>),
    /// A connection being opened: wait on this, then look again.
    Opening(Rc<Notify>),
    None,
}

pub(crate) struct H2Conns<B> {
    map: RefCell<HashMap<SocketAddr, Entry<B>>>,
}

impl<B> Default for H2Conns<B> {
    fn default() -> Self {
        H2Conns { map: RefCell::default() }
    }
}

impl<B> H2Conns<B> {
    /// The endpoint's open connection (one the server closed counts as none), or the
    /// notice of the one being opened.
    pub(crate) fn find(&self, addr: SocketAddr) -> Found<B> {
        match self.map.borrow().get(&addr) {
            Some(Entry::Open(sender)) if !sender.is_closed() => Found::Open(sender.clone()),
            Some(Entry::Opening(done)) => Found::Opening(done.clone()),
            _ => Found::None,
        }
    }

    /// Marks a connection to `addr` as being opened, until the returned guard is dropped
    /// (after [`Opening::opened`], or on a failure, or when the request that opens it is
    /// given up): then the requests waiting for it look again.
    pub(crate) fn start_opening(&self, addr: SocketAddr) -> Opening<'_, B> {
        let done = Rc::new(Notify::new());
        self.map.borrow_mut().insert(addr, Entry::Opening(done.clone()));
        Opening { conns: self, addr, done }
    }

    /// Keeps the open connections the server has not closed, and those being opened, to
    /// addresses still `live`.
    pub(crate) fn retain(&self, live: impl Fn(SocketAddr) -> bool) {
        self.map.borrow_mut().retain(|addr, entry| {
            live(*addr)
                && match entry {
                    Entry::Open(sender) => !sender.is_closed(),
                    Entry::Opening(_) => true,
                }
        });
    }
}

/// A connection being opened (see [`H2Conns::start_opening`]).
pub(crate) struct Opening<'a, B> {
    conns: &'a H2Conns<B>,
    addr: SocketAddr,
    done: Rc<Notify>,
}

impl<B> Opening<'_, B> {
    /// It is open: the endpoint's connection from now on.
    pub(crate) fn opened(self, sender: SendRequest<B>) {
        self.conns.map.borrow_mut().insert(self.addr, Entry::Open(sender));
    }
}

impl<B> Drop for Opening<'_, B> {
    fn drop(&mut self) {
        let mut map = self.conns.map.borrow_mut();
        if matches!(map.get(&self.addr), Some(Entry::Opening(done)) if Rc::ptr_eq(done, &self.done)) {
            map.remove(&self.addr);
        }
        self.done.notify_waiters();
    }
}
