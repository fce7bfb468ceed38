//! Per-worker connection pools.
//!
//! Every worker thread owns one [`Pool`]: no locks, no cross-thread traffic. HTTP/1.1
//! connections are checked out for one exchange and come back when the response body has
//! been read to its end ([`PooledBody`]); an h2c endpoint has one multiplexed connection
//! (`h2_conns.rs`).
//!
//! Requests without a body or upgrade (most of them) take the inline HTTP/1.1 client
//! ([`crate::h1`]); the others go through hyper's client, which can send a body while the
//! response is already arriving. New HTTP/1.1 connections for either are paced
//! (`pacing::paced`), opened by `dial.rs`.
use crate::counters::PoolCounters;
use crate::dial::{connect, open_h1, open_h2};
use crate::endpoint::Endpoint;
use crate::error::{SendFailure, UpstreamError};
use crate::group::{Protocol, UpstreamTimeouts};
use crate::h1::{is_idempotent, BodyPoll, Framing, H1Conn, H1Error, InlineRequest};
use crate::h2_conns::{Found, H2Conns};
use crate::pacing::{paced, ConnectSlot, Pacer};
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::{http1, http2};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

/// How long a pooled hyper connection is given to become ready (its task readies it on
/// its next turn); one that is not by then is closed.
const READY_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

struct IdleConn<B> {
    sender: http1::SendRequest<B>,
    since: Instant,
}

/// An idle inline connection, with the sweep tick it went idle at.
type IdleInline = (Box<H1Conn>, u64);

/// One endpoint's idle connections of one kind (the inline client's or hyper's), and the
/// pacing of new ones.
struct Idle<T> {
    conns: Vec<T>,
    pacer: Rc<Pacer>,
}

impl<T> Default for Idle<T> {
    fn default() -> Self {
        Idle { conns: Vec::new(), pacer: Rc::default() }
    }
}

impl<T> Idle<T> {
    /// Whether the pool keeps this entry: connections wait in it, or its pacer is busy.
    fn wanted(&self) -> bool {
        !self.conns.is_empty() || self.pacer.busy()
    }
}

/// Hashes endpoint addresses for the per-request pool lookups. The keys are the
/// configuration's own addresses, not attacker-chosen, so SipHash's flood resistance buys
/// nothing here, and it costs tens of nanoseconds per request.
#[derive(Clone, Copy, Default)]
struct AddrHasher;

impl std::hash::BuildHasher for AddrHasher {
    type Hasher = FoldHasher;
    fn build_hasher(&self) -> FoldHasher {
        FoldHasher(0)
    }
}

/// Folds the written bytes into a word and mixes it once at the end.
struct FoldHasher(u64);

impl std::hash::Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// One worker's connections to every endpoint it has talked to.
pub struct Pool<B> {
    inline: RefCell<HashMap<SocketAddr, Idle<IdleInline>, AddrHasher>>,
    /// Counts sweeps (one a second): idle inline connections age by it, not by the clock,
    /// so that the hot path reads no clock.
    tick: std::cell::Cell<u64>,
    h1: RefCell<HashMap<SocketAddr, Idle<IdleConn<B>>>>,
    h2: H2Conns<B>,
    counters: std::sync::Arc<PoolCounters>,
}

impl<B> Pool<B>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    pub fn new(counters: std::sync::Arc<PoolCounters>) -> Rc<Self> {
        Rc::new(Pool {
            inline: RefCell::default(),
            tick: Default::default(),
            h1: RefCell::default(),
            h2: H2Conns::default(),
            counters,
        })
    }

    /// Sends a request with a body, or an upgrade, to `ep` and waits for the response
    /// head. A request that was never sent (no connection could be made) comes back with
    /// the error, so it can be tried elsewhere. Body-less requests take [`Pool::send_head`].
    pub async fn send(
        self: &Rc<Self>,
        ep: &Endpoint,
        protocol: Protocol,
        timeouts: &UpstreamTimeouts,
        mut req: Request<B>,
    ) -> Result<Response<PooledBody<B>>, SendFailure<B>> {
        match protocol {
            // Boxed: these futures are large, and the common path (`send_head`) should not
            // make every request's (and every idle connection's) future that large.
            Protocol::Http1 => {
                chunk_if_unknown(&mut req);
                Box::pin(self.send_h1(ep, timeouts, req)).await
            }
            Protocol::H2c => Box::pin(self.send_h2(ep, timeouts, req)).await,
        }
    }

    /// Sends a request without a body (see [`sends_inline`]), or with one read whole
    /// before (see [`speaks_inline`]), with the inline HTTP/1.1 client and waits for the
    /// response head. The request is borrowed, so that it can be sent again to another
    /// server.
    pub async fn send_head(
        self: &Rc<Self>,
        ep: &Endpoint,
        timeouts: &UpstreamTimeouts,
        req: &InlineRequest<'_>,
    ) -> Result<Response<PooledBody<B>>, UpstreamError> {
        self.send_inline(ep, timeouts, req).await
    }

    async fn send_inline(
        self: &Rc<Self>,
        ep: &Endpoint,
        t: &UpstreamTimeouts,
        req: &InlineRequest<'_>,
    ) -> Result<Response<PooledBody<B>>, UpstreamError> {
        let mut reused = self.checkout_inline(ep.addr);
        let mut was_retried = false;
        loop {
            let (mut conn, was_reused) = match reused.take() {
                Some(c) => (c, true),
                // Boxed: the wait for a connection (its closures, its `select!`) would
                // otherwise enlarge every request's future, moved on each request.
                None => Box::pin(self.paced_inline(ep, t, was_retried)).await?,
            };
            let counter = if was_reused { &self.counters.reused } else { &self.counters.opened };
            counter.fetch_add(1, Ordering::Relaxed);
            match conn.exchange_within(req, t.response_header).await {
                Ok(None) => return Err(UpstreamError::ResponseTimeout),
                Ok(Some((head, framing, reusable))) => {
                    let give_back = reusable.then(|| (self.clone(), ep.addr, t.max_idle));
                    let mut body = InlineBody { conn: Some(conn), framing, give_back };
                    if matches!(body.framing, Framing::Length(0)) {
                        body.finish();
                    }
                    return Ok(Response::from_parts(head, PooledBody { kind: Kind::Inline(body) }));
                }
                // The server closed a pooled connection as we used it: once more, afresh.
                Err(H1Error::BeforeResponse(_)) if was_reused && is_idempotent(&req.parts.method) => {
                    was_retried = true;
                    continue;
                }
                Err(e) => return Err(UpstreamError::Http1(e)),
            }
        }
    }

    /// A connection for the inline client, paced (`pacing::paced`). `fresh`: only a new
    /// one (a pooled connection just failed).
    async fn paced_inline(
        self: &Rc<Self>,
        ep: &Endpoint,
        t: &UpstreamTimeouts,
        fresh: bool,
    ) -> Result<(Box<H1Conn>, bool), UpstreamError> {
        let (addr, max_idle) = (ep.addr, t.max_idle);
        paced(
            || self.inline.borrow_mut().entry(addr).or_default().pacer.clone(),
            t.connect,
            fresh,
            &self.counters.connect_errors,
            || std::future::ready(self.checkout_inline(addr)),
            || {
                let tcp = connect(ep, t, &self.counters);
                async move { tcp.await.map(H1Conn::new) }
            },
            |opening, slot| self.pool_when_open(opening, slot, move |pool, c| pool.give_back_inline(addr, max_idle, c)),
        )
        .await
    }

    /// A connection for hyper's client (bodies that stream, TLS servers), paced as the
    /// inline client's are.
    async fn paced_h1(
        self: &Rc<Self>,
        ep: &Endpoint,
        t: &UpstreamTimeouts,
        fresh: bool,
    ) -> Result<(http1::SendRequest<B>, bool), UpstreamError> {
        let (addr, max_idle) = (ep.addr, t.max_idle);
        paced(
            || self.h1.borrow_mut().entry(addr).or_default().pacer.clone(),
            t.connect,
            fresh,
            &self.counters.connect_errors,
            || self.ready_h1(addr, t),
            || open_h1(ep, t, &self.counters),
            |opening, slot| self.pool_when_open(opening, slot, move |pool, c| pool.give_back(addr, max_idle, c)),
        )
        .await
    }

    /// Lets an opening that a request no longer waits for finish on its own: its
    /// connection joins the pool (`pool_it`, if the pool is still there), and its slot
    /// frees when it ends.
    fn pool_when_open<C: 'static>(
        self: &Rc<Self>,
        opening: Pin<Box<impl Future<Output = Result<C, UpstreamError>> + 'static>>,
        slot: ConnectSlot,
        pool_it: impl FnOnce(&Pool<B>, C) + 'static,
    ) {
        let pool = Rc::downgrade(self);
        tokio::task::spawn_local(async move {
            let opened = opening.await;
            drop(slot);
            if let (Ok(conn), Some(pool)) = (opened, pool.upgrade()) {
                pool_it(&pool, conn);
            }
        });
    }

    /// The most recently used live connection (expired ones are dropped by `sweep`).
    fn checkout_inline(&self, addr: SocketAddr) -> Option<Box<H1Conn>> {
        let mut map = self.inline.borrow_mut();
        let list = &mut map.get_mut(&addr)?.conns;
        while let Some((conn, _)) = list.pop() {
            if conn.is_reusable() {
                return Some(conn);
            }
        }
        None
    }

    fn give_back_inline(&self, addr: SocketAddr, max_idle: usize, conn: Box<H1Conn>) {
        let mut map = self.inline.borrow_mut();
        let idle = map.entry(addr).or_default();
        if idle.conns.len() < max_idle {
            idle.conns.push((conn, self.tick.get()));
            idle.pacer.connection_returned();
        }
    }

    async fn send_h1(
        self: &Rc<Self>,
        ep: &Endpoint,
        t: &UpstreamTimeouts,
        mut req: Request<B>,
    ) -> Result<Response<PooledBody<B>>, SendFailure<B>> {
        // A pooled connection may have been closed by the server a moment ago; if the request
        // was not written yet, hyper hands it back and we try once more on a fresh connection.
        let mut fresh = false;
        loop {
            let (mut sender, was_reused) = match self.paced_h1(ep, t, fresh).await {
                Ok(got) => got,
                Err(error) => return Err(SendFailure { error, unsent: Some(req) }),
            };
            let counter = if was_reused { &self.counters.reused } else { &self.counters.opened };
            counter.fetch_add(1, Ordering::Relaxed);
            let exchange = sender.try_send_request(req);
            let result = match tokio::time::timeout(t.response_header, exchange).await {
                Ok(r) => r,
                Err(_) => return Err(UpstreamError::ResponseTimeout.into()),
            };
            match result {
                Ok(resp) => {
                    let give_back = Return { pool: self.clone(), addr: ep.addr, max_idle: t.max_idle, sender };
                    return Ok(PooledBody::wrap(resp, Some(give_back)));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if was_reused => {
                        req = unsent;
                        fresh = true;
                    }
                    Some(unsent) => {
                        return Err(SendFailure {
                            error: UpstreamError::Exchange(e.into_error()),
                            unsent: Some(unsent),
                        })
                    }
                    None => return Err(UpstreamError::Exchange(e.into_error()).into()),
                },
            }
        }
    }

    async fn send_h2(
        self: &Rc<Self>,
        ep: &Endpoint,
        t: &UpstreamTimeouts,
        req: Request<B>,
    ) -> Result<Response<PooledBody<B>>, SendFailure<B>> {
        let mut sender = match self.h2_sender(ep, t).await {
            Ok(sender) => sender,
            Err(error) => return Err(SendFailure { error, unsent: Some(req) }),
        };
        let exchange = sender.send_request(req);
        match tokio::time::timeout(t.response_header, exchange).await {
            Err(_) => Err(UpstreamError::ResponseTimeout.into()),
            Ok(Err(e)) => Err(UpstreamError::Exchange(e).into()),
            Ok(Ok(resp)) => Ok(PooledBody::wrap(resp, None)),
        }
    }

    /// The endpoint's multiplexed connection: the open one, else the one another request
    /// is opening once it is open, else a new one (that requests arriving meanwhile wait
    /// for), within the connect timeout.
    async fn h2_sender(&self, ep: &Endpoint, t: &UpstreamTimeouts) -> Result<http2::SendRequest<B>, UpstreamError> {
        let deadline = tokio::time::Instant::now() + t.connect;
        loop {
            match self.h2.find(ep.addr) {
                Found::Open(sender) => {
                    self.counters.reused.fetch_add(1, Ordering::Relaxed);
                    return Ok(sender);
                }
                Found::Opening(done) => {
                    // Registered as it is made, before anything yields: the end of the
                    // opening cannot pass unseen.
                    let ended = done.notified();
                    if tokio::time::timeout_at(deadline, ended).await.is_err() {
                        self.counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                        return Err(UpstreamError::ConnectTimeout);
                    }
                }
                Found::None => {
                    let opening = self.h2.start_opening(ep.addr);
                    let sender = open_h2(ep, t, &self.counters).await?;
                    self.counters.opened.fetch_add(1, Ordering::Relaxed);
                    opening.opened(sender.clone());
                    return Ok(sender);
                }
            }
        }
    }

    /// The most recently used live connection, ready for a request: one given back a
    /// moment ago is readied by its connection's task on its next turn.
    async fn ready_h1(&self, addr: SocketAddr, t: &UpstreamTimeouts) -> Option<http1::SendRequest<B>> {
        while let Some(mut sender) = self.checkout_h1(addr, t) {
            if sender.is_ready() || matches!(tokio::time::timeout(READY_WAIT, sender.ready()).await, Ok(Ok(()))) {
                return Some(sender);
            }
        }
        None
    }

    fn checkout_h1(&self, addr: SocketAddr, t: &UpstreamTimeouts) -> Option<http1::SendRequest<B>> {
        let mut map = self.h1.borrow_mut();
        let list = &mut map.get_mut(&addr)?.conns;
        let now = Instant::now();
        while let Some(idle) = list.pop() {
            if !idle.sender.is_closed() && now.duration_since(idle.since) < t.idle {
                return Some(idle.sender);
            }
            // Closed or expired: let it go.
        }
        None
    }

    fn give_back(&self, addr: SocketAddr, max_idle: usize, sender: http1::SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        let mut map = self.h1.borrow_mut();
        let idle = map.entry(addr).or_default();
        if idle.conns.len() < max_idle {
            idle.conns.push(IdleConn { sender, since: Instant::now() });
            idle.pacer.connection_returned();
        }
    }

    /// Drops idle connections older than `max_age`, those the server has closed, and those
    /// to addresses that are no longer `live` (a server removed by a reload or gone from
    /// DNS). Called once a second by the worker that owns the pool.
    pub fn sweep(&self, max_age: std::time::Duration, live: impl Fn(SocketAddr) -> bool) {
        let tick = self.tick.get() + 1;
        self.tick.set(tick);
        let max_ticks = max_age.as_secs().max(1);
        let now = Instant::now();
        self.h1.borrow_mut().retain(|addr, idle| {
            idle.conns.retain(|c| !c.sender.is_closed() && now.duration_since(c.since) < max_age);
            idle.wanted() && live(*addr)
        });
        self.h2.retain(&live);
        self.inline.borrow_mut().retain(|addr, idle| {
            idle.conns.retain_mut(|(c, since)| {
                // Idle since before the last sweep (a whole second at least): one that
                // went back to the pool a moment ago keeps its buffers for its next use.
                if tick - *since >= 2 {
                    c.shed();
                }
                tick - *since < max_ticks && c.is_reusable()
            });
            idle.wanted() && live(*addr)
        });
    }
}

struct Return<B> {
    pool: Rc<Pool<B>>,
    addr: SocketAddr,
    max_idle: usize,
    sender: http1::SendRequest<B>,
}

/// Whether a request goes to [`Pool::send_head`] (the inline HTTP/1.1 client): HTTP/1
/// upstreams, requests without a body and without an upgrade.
/// hyper's HTTP/1 client sends no body of unknown length with GET or HEAD unless told to
/// chunk it: the body would be dropped, and the server would take it for the next request.
fn chunk_if_unknown<B: Body>(req: &mut Request<B>) {
    let body = req.body();
    if matches!(*req.method(), http::Method::GET | http::Method::HEAD)
        && !body.is_end_stream()
        && body.size_hint().exact().is_none()
    {
        req.headers_mut().insert(http::header::TRANSFER_ENCODING, http::HeaderValue::from_static("chunked"));
    }
}

pub fn sends_inline(protocol: Protocol, head: &http::request::Parts, body: &impl Body) -> bool {
    body.is_end_stream() && speaks_inline(protocol, head)
}

/// Whether the inline HTTP/1.1 client can send this request with a body read whole before
/// (given to [`Pool::send_head`]): HTTP/1 upstreams, no upgrade.
pub fn speaks_inline(protocol: Protocol, head: &http::request::Parts) -> bool {
    protocol == Protocol::Http1
        && !head.headers.contains_key(http::header::UPGRADE)
        && head.method != http::Method::CONNECT
}

/// An inline HTTP/1.1 response body: it reads from its connection and hands the connection
/// back to the pool once the body is complete.
struct InlineBody<B> {
    conn: Option<Box<H1Conn>>,
    framing: Framing,
    give_back: Option<(Rc<Pool<B>>, SocketAddr, usize)>,
}

impl<B> InlineBody<B>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    fn finish(&mut self) {
        let conn = self.conn.take();
        if let (Some(conn), Some((pool, addr, max_idle))) = (conn, self.give_back.take()) {
            pool.give_back_inline(addr, max_idle, conn);
        }
    }
}

enum Kind<B> {
    Hyper { inner: Incoming, give_back: Option<Return<B>> },
    Inline(InlineBody<B>),
}

/// An upstream response body that puts its connection back into the pool once it has been
/// read to the end. Dropped early (client went away), the connection is closed.
pub struct PooledBody<B> {
    kind: Kind<B>,
}

impl<B> PooledBody<B>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    fn wrap(resp: Response<Incoming>, give_back: Option<Return<B>>) -> Response<Self> {
        // 101 Switching Protocols: the connection now belongs to the tunnel.
        let give_back = give_back.filter(|_| resp.status() != http::StatusCode::SWITCHING_PROTOCOLS);
        let mut resp = resp.map(|inner| PooledBody { kind: Kind::Hyper { inner, give_back } });
        if resp.body().is_end_stream() {
            resp.body_mut().finish_hyper();
        }
        resp
    }

    fn finish_hyper(&mut self) {
        if let Kind::Hyper { give_back, .. } = &mut self.kind {
            if let Some(r) = give_back.take() {
                r.pool.give_back(r.addr, r.max_idle, r.sender);
            }
        }
    }
}

impl<B> Body for PooledBody<B>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Hyper { inner, give_back } => {
                let polled = Pin::new(&mut *inner).poll_frame(cx);
                match &polled {
                    Poll::Ready(None) => this.finish_hyper(),
                    Poll::Ready(Some(Ok(_))) if inner.is_end_stream() => this.finish_hyper(),
                    Poll::Ready(Some(Err(_))) => *give_back = None,
                    _ => {}
                }
                polled.map_err(Into::into)
            }
            Kind::Inline(body) => {
                let Some(conn) = body.conn.as_mut() else {
                    return Poll::Ready(None);
                };
                match std::task::ready!(conn.poll_body(&mut body.framing, cx)) {
                    Ok(BodyPoll::Data(data)) => {
                        if matches!(body.framing, Framing::Length(0)) {
                            body.finish();
                        }
                        Poll::Ready(Some(Ok(Frame::data(data))))
                    }
                    Ok(BodyPoll::End) => {
                        body.finish();
                        Poll::Ready(None)
                    }
                    Err(e) => {
                        body.conn = None;
                        Poll::Ready(Some(Err(Box::new(e))))
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Hyper { inner, .. } => inner.is_end_stream(),
            Kind::Inline(body) => body.conn.is_none() || matches!(body.framing, Framing::Length(0)),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Hyper { inner, .. } => inner.size_hint(),
            Kind::Inline(InlineBody { framing: Framing::Length(n), .. }) => SizeHint::with_exact(*n),
            Kind::Inline(_) => SizeHint::default(),
        }
    }
}
