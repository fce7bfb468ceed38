//! The HTTP/1.1 server: one loop per client connection that reads a request head, refuses
//! the ambiguous ones (the request-smuggling family: 400 and the connection closes, nothing
//! forwarded), hands the request to the service, and writes the response, in order, until
//! the connection ends.
//!
//! Built for a proxy rather than taken from hyper: the head is parsed once, by the same
//! code that judges its framing; a small response goes out in one `writev`; a busy
//! connection allocates no per-request state; and an idle connection holds only its socket
//! and a timer. HTTP/2 (`crate::h2::serve`) stays with hyper.
//!
//! `LIFECYCLE.md` beside this file states the server's invariants and the tests that pin
//! them.
mod head;
mod idle;
mod inbound;
mod interim;
mod outbound;
mod parked;
mod refusal;
mod rules;
mod upgrade;

pub(crate) use head::NON_ASCII as NON_ASCII_TARGET;
pub use head::{parse_one, MAX_HEADERS};
pub(crate) use refusal::{head_client, head_fields, refusal, tell_front_chain};

use crate::answers::{Reason, Style};
use crate::body::{IncomingBody, ProxyBody};
use crate::conn::Conn;
use crate::drain::DrainWatch;
use crate::pipeline::handle;
use crate::settings::{ClientLimits, NonAsciiTargets};
use crate::transport::{Transport, READ_CHUNK};
use crate::worker::Worker;
use bytes::BytesMut;
use forecourt_upstream::InterimSink;
use head::{Parsed, Span};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use idle::{Fired, IdleTimer};
use inbound::Shared;
use interim::InterimWriter;
use outbound::{write_response, Answering, OutQueue};
use parked::Connection;
use rules::{BodyFraming, Facts};
use std::rc::Rc;
use std::time::Duration;

/// How long, at most, a connection that is being closed is read from, so that bytes the
/// client still sends do not turn the close into a reset that could destroy our last
/// response (a client that sends a whole upload before it reads the early answer to it):
/// nginx's `lingering_time`.
const LINGER: Duration = Duration::from_secs(30);
/// How long a closing connection is waited on for its next bytes before it is closed
/// all the same: nginx's `lingering_timeout`.
const LINGER_IDLE: Duration = Duration::from_secs(5);

/// Client-side limits and timers of HTTP/1.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_head_bytes: usize,
    pub max_headers: usize,
    pub header_timeout: Duration,
    pub keepalive_timeout: Duration,
    /// Longest wait for the client to take more of a response; then the connection closes.
    pub send_timeout: Duration,
    /// Idle this long, a keep-alive connection gives back its read buffer.
    pub park_after: Duration,
    /// What a request target with bytes past ASCII gets.
    pub non_ascii_targets: NonAsciiTargets,
}

/// An HTTP/1.1 keep-alive connection idle this long gives up its HTTP state and buffers
/// until its next request (it stays open).
pub const PARK_AFTER: Duration = Duration::from_millis(500);

impl Limits {
    /// The timers of a connection starting a busy spell.
    fn idle_timer(&self) -> IdleTimer {
        IdleTimer::new(self.park_after, self.keepalive_timeout, self.header_timeout)
    }

    pub fn of(client: &ClientLimits) -> Limits {
        Limits {
            max_head_bytes: client.max_header_bytes,
            max_headers: client.max_headers,
            header_timeout: client.header_timeout,
            keepalive_timeout: client.keepalive_timeout,
            send_timeout: client.send_timeout,
            park_after: PARK_AFTER,
            non_ascii_targets: client.non_ascii_targets,
        }
    }
}

/// Serves one client connection; `first` holds the bytes already read from it, `guards`
/// what the accepting stage holds for the connection's life (let go when it closes).
///
/// A connection alternates between busy spells, served by a future boxed once per spell
/// (it holds a request's state: kilobytes), and parked waits (`parked.rs`), in the
/// worker's lot without a task of their own, or, for TLS, in a small task that holds only
/// the connection's box. So a busy keep-alive connection allocates nothing per request for
/// its state, and an idle one costs little memory.
pub async fn serve<G: 'static>(
    worker: Rc<Worker>,
    stream: Transport,
    conn: Conn,
    first: BytesMut,
    limits: Limits,
    guards: G,
) {
    serve_spells(Connection::busy(worker, conn, limits, Shared::new(stream, first), guards)).await
}

/// Serves busy spells until the connection parks (it moves to the worker's lot, or to a
/// task of its own, and this one ends) or closes.
async fn serve_spells<G: 'static>(mut c: Box<Connection<G>>) {
    let Connection { worker, conn, shared, limits, drain, idle, .. } = &mut *c;
    let spell = Box::pin(serve_busy(worker, conn, shared, limits, drain, idle)).await;
    if spell == Spell::Parked {
        parked::park(*c, serve_spells);
    }
}

#[derive(PartialEq, Eq)]
enum Spell {
    /// Idle for the park delay: the connection waits with its buffers given back.
    Parked,
    Closed,
}

/// Serves requests until the connection idles long enough to park, or ends.
async fn serve_busy(
    worker: &Rc<Worker>,
    conn: &Conn,
    shared: &Rc<Shared>,
    limits: &Limits,
    drain: &DrainWatch,
    idle: &mut IdleTimer,
) -> Spell {
    let mut spans = Vec::new();
    let mut out = OutQueue::new(limits.send_timeout);
    loop {
        let (req, facts) = match next_head(shared, limits, drain, idle, &mut spans).await {
            Next::Request(req, facts) => (req, facts),
            Next::Refused(status, why) => {
                tracing::debug!(peer = %conn.peer, why, "refusing request");
                let answer = refusal(worker, conn.peer.ip(), Reason::for_refusal(status), Style::Text, why, |id| {
                    refusal::raw_line_fields(&shared.inbound.borrow().buf, conn.peer, id)
                });
                refuse(shared, &mut out, answer).await;
                return Spell::Closed;
            }
            Next::Abandoned { timed_out, waited } => {
                refusal::abandoned(worker, timed_out, waited, &shared.inbound.borrow().buf, conn.peer);
                return Spell::Closed;
            }
            Next::Park => return Spell::Parked,
            Next::Close => return Spell::Closed,
        };
        idle.request_seen();
        let is_chunked = facts.framing == BodyFraming::Chunked;
        shared.inbound.borrow_mut().start_body(facts.framing, facts.expect_continue);
        if is_chunked && !facts.expect_continue && !first_chunk_checked(shared, limits).await {
            let head = req.into_parts().0;
            let client = refusal::head_client(worker, conn.peer, &head);
            let answer = refusal(worker, client, Reason::BadRequest, Style::Text, "chunk size", |id| {
                refusal::head_fields(client, conn.peer, &head, id)
            });
            refuse(shared, &mut out, answer).await;
            return Spell::Closed;
        }
        let answering = Answering {
            method_is_head: req.method() == Method::HEAD,
            version: req.version(),
            keep_alive: facts.keep_alive,
        };
        let req = req.map(|()| IncomingBody::Stream(shared.clone()));
        // An origin's interim responses reach an HTTP/1.1 client while this is handled.
        let interim = InterimWriter(shared);
        let interim = (answering.version == Version::HTTP_11).then_some(&interim as &dyn InterimSink);
        // Awaited here rather than in a helper: each nested future is copied into its
        // parent when it starts, and this one is kilobytes.
        let resp = handle(worker, conn, req, interim).await;
        if !deliver(conn, shared, &mut out, resp, answering, drain).await {
            return Spell::Closed;
        }
    }
}

/// Sends the response to one request; false when the connection must close.
async fn deliver(
    conn: &Conn,
    shared: &Rc<Shared>,
    out: &mut OutQueue,
    resp: Response<ProxyBody>,
    mut answering: Answering,
    drain: &DrainWatch,
) -> bool {
    let (mut head, mut body) = resp.into_parts();
    let upgrade = head.extensions.remove::<OnUpgrade>().filter(|_| head.status == StatusCode::SWITCHING_PROTOCOLS);
    // The response may go out before the request body was read (an error, a redirect): the
    // connection carries on only if the rest of that body is already here to be skipped.
    answering.keep_alive &= !drain.is_draining() && body_finished(shared);
    let written = write_response(shared, out, &head, &mut body, &answering).await;
    drop(body); // ends the exchange: access log line and metrics
    let reusable = match written {
        Ok(w) => w.reusable,
        Err(e) => {
            tracing::debug!(peer = %conn.peer, error = %e, "response not delivered");
            return false;
        }
    };
    if let Some(upstream) = upgrade {
        Box::pin(upgrade::tunnel(shared.clone(), upstream)).await;
        return false;
    }
    if !reusable || !body_finished(shared) {
        linger_if_unread(shared).await;
        return false;
    }
    true
}

/// Whether the request body is finished, skipping what is buffered of one that the
/// response did not need. A body still held by the forwarder is not touched.
fn body_finished(shared: &Rc<Shared>) -> bool {
    let mut inbound = shared.inbound.borrow_mut();
    inbound.body_done() || (Rc::strong_count(shared) == 1 && inbound.discard_buffered_body())
}

// Matched at once by the caller; boxing the request would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Next {
    Request(Request<()>, Facts),
    Refused(StatusCode, &'static str),
    /// A head begun and never finished: the header timeout ran out, or the client closed
    /// (`waited`: since the head's first wait for more).
    Abandoned {
        timed_out: bool,
        waited: Duration,
    },
    /// Idle for the park delay (the read buffer has been given back).
    Park,
    Close,
}

impl Next {
    /// The wait for a head ended (`timed_out`, or the client closed): abandoned if a head
    /// had begun (the empty lines a client may send after a body are none), or a close.
    fn ended(buf: &[u8], timed_out: bool, partial_since: Option<tokio::time::Instant>) -> Next {
        if buf.iter().all(|&b| b == b'\r' || b == b'\n') {
            return Next::Close;
        }
        tracing::debug!(timed_out, "request head abandoned; closing");
        Next::Abandoned { timed_out, waited: partial_since.map_or(Duration::ZERO, |t| t.elapsed()) }
    }
}

/// Waits for the next complete request head (or a reason to close).
async fn next_head(
    shared: &Rc<Shared>,
    limits: &Limits,
    drain: &DrainWatch,
    idle: &mut IdleTimer,
    spans: &mut Vec<Span>,
) -> Next {
    // When a partial head was first waited on; a head that comes whole reads no clock.
    let mut partial_since = None;
    loop {
        let partial = {
            let mut inbound = shared.inbound.borrow_mut();
            if !inbound.buf.is_empty() {
                let max_headers = limits.max_headers.min(MAX_HEADERS);
                match head::parse(&mut inbound.buf, limits.max_head_bytes, max_headers, limits.non_ascii_targets, spans)
                {
                    Parsed::Partial => {}
                    Parsed::Request(req, facts) => return Next::Request(req, facts),
                    Parsed::Refused(status, why) => return Next::Refused(status, why),
                }
            }
            let partial = !inbound.buf.is_empty();
            if inbound.eof {
                return Next::ended(&inbound.buf, false, partial_since);
            }
            partial
        };
        match shared.try_fill(READ_CHUNK) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(_) => return Next::ended(&shared.inbound.borrow().buf, false, partial_since),
        }
        if partial && partial_since.is_none() {
            partial_since = Some(tokio::time::Instant::now());
        }
        let woke = std::future::poll_fn(|cx| {
            if shared.stream.poll_read_ready(cx).is_ready() {
                return std::task::Poll::Ready(None);
            }
            if !partial && drain.poll_drain(cx).is_ready() {
                return std::task::Poll::Ready(Some(Fired::Expired));
            }
            idle.poll(cx, partial).map(Some)
        })
        .await;
        match woke {
            None => {}
            Some(Fired::Park) => {
                let mut inbound = shared.inbound.borrow_mut();
                if inbound.buf.is_empty() {
                    inbound.buf = BytesMut::new();
                }
                return Next::Park;
            }
            Some(Fired::Expired) => return Next::ended(&shared.inbound.borrow().buf, true, partial_since),
        }
    }
}

/// Holds a chunked request until its first chunk-size line has arrived and is valid.
async fn first_chunk_checked(shared: &Rc<Shared>, limits: &Limits) -> bool {
    let deadline = tokio::time::Instant::now() + limits.header_timeout;
    loop {
        let (checked, eof) = {
            let inbound = shared.inbound.borrow();
            (inbound.first_chunk_checked(), inbound.eof)
        };
        match checked {
            Ok(true) => return true,
            Err(()) => return false,
            Ok(false) if eof => return false,
            Ok(false) => {}
        }
        match shared.try_fill(READ_CHUNK) {
            Ok(true) => continue,
            Ok(false) => {}
            Err(_) => return false,
        }
        if tokio::time::timeout_at(deadline, shared.stream.readable()).await.is_err() {
            return false;
        }
    }
}

/// Sends the answer to a request that will not be served, and closes.
async fn refuse(shared: &Rc<Shared>, out: &mut OutQueue, answer: Response<ProxyBody>) {
    let (head, mut body) = answer.into_parts();
    let answering = Answering { method_is_head: false, version: Version::HTTP_11, keep_alive: false };
    let written = write_response(shared, out, &head, &mut body, &answering).await;
    drop(body); // the access log line, before the linger below
    if written.is_ok() {
        linger_if_unread(shared).await;
    }
}

/// Closes gracefully when the client may have sent bytes we did not read: our side is
/// shut first (the client sees the end of the response), then its bytes are read and
/// dropped for a while, so that closing does not reset the connection under them.
async fn linger_if_unread(shared: &Rc<Shared>) {
    let unread = {
        let inbound = shared.inbound.borrow();
        !inbound.eof && (!inbound.buf.is_empty() || !inbound.body_done())
    };
    if !unread {
        return;
    }
    let _ = shared.shut_write();
    let _ = tokio::time::timeout(LINGER, async {
        let mut sink = vec![0u8; 4096];
        loop {
            if !matches!(tokio::time::timeout(LINGER_IDLE, shared.stream.readable()).await, Ok(Ok(()))) {
                return;
            }
            match shared.stream.try_read(&mut sink) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    })
    .await;
}
