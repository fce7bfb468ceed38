//! The HTTP/1 framing guard: a thin layer between a client socket and hyper that reads
//! every request head before hyper does and refuses the request-smuggling family.
//!
//! hyper alone resolves `Content-Length` + `Transfer-Encoding` by dropping the length; we
//! want such requests refused outright (400, connection closed, nothing forwarded). The
//! guard parses each head with httparse, checks its framing, and then follows the body
//! (counting a fixed length, or scanning chunked framing) to find where the next head
//! starts. A refused head is replaced by a line hyper cannot parse, so that hyper itself
//! answers 400 and closes, in order after any pipelined responses before it.
//!
//! The guard also owns the client-side idle timers of HTTP/1: the keep-alive timer (no
//! request in flight, nothing received), the header timer (a head has started but is not
//! complete: slowloris), and the park timer (see [`Http1Guard::with_parking`]).
//!
//! It stops inspecting only once the connection has really switched protocols (a 101 was
//! sent: [`ConnActivity::mark_upgraded`]), so an `Upgrade` header alone does not turn the
//! checks off for the rest of the connection.
mod rules;

use bytes::{Buf, BytesMut};
use forecourt_upstream::chunked::ChunkedFraming;
use rules::{body_end, expects_continue, judge, Verdict};
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What hyper is given instead of a refused head: an invalid method token makes hyper
/// answer `400 Bad Request` and close the connection.
const POISON: &[u8] = b"\x01 / HTTP/1.1\r\n\r\n";
const READ_CHUNK: usize = 8192;
/// Heads with more headers than this are passed to hyper as they are; its own limit
/// (`max_headers`, at most this) answers 431.
const MAX_HEADERS: usize = 128;

/// Limits and timers of the guard.
#[derive(Clone, Copy, Debug)]
pub struct GuardLimits {
    pub max_head_bytes: usize,
    pub header_timeout: Duration,
    pub keepalive_timeout: Duration,
    /// How long a keep-alive connection may sit idle before it is parked (see
    /// [`Http1Guard::with_parking`]).
    pub park_after: Duration,
}

/// Where a parked connection's socket is left for the connection loop to pick up.
pub type ParkSlot<IO> = Arc<Mutex<Option<IO>>>;

/// Shared between the guard and the requests of its connection: how many responses are
/// still being produced, so that an idle timer that fires during a long response is
/// re-armed instead of ending the connection. (An atomic only because hyper requires
/// upgradable IO to be `Send`; a connection never leaves its worker thread.)
#[derive(Default)]
pub struct ConnActivity {
    in_flight: AtomicU32,
    upgraded: AtomicBool,
}

impl ConnActivity {
    /// The connection now carries another protocol (a 101 response is on its way): the
    /// guard stops reading HTTP/1 and passes bytes through.
    pub fn mark_upgraded(&self) {
        self.upgraded.store(true, Ordering::Relaxed);
    }

    fn is_upgraded(&self) -> bool {
        self.upgraded.load(Ordering::Relaxed)
    }

    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_finished(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) == 0
    }
}

#[derive(Debug)]
enum Framing {
    /// Expecting a request head.
    Head,
    /// A body of known length: bytes left.
    Fixed(u64),
    /// A chunked body; while `held`, its head is kept from hyper until the first chunk-size
    /// line has proved valid, so that a broken body never reaches an upstream.
    Chunked { scan: ChunkedFraming, held: bool },
    /// No more inspection (upgraded, or a head hyper will refuse by itself).
    Passthrough,
    /// A head was refused: after the poison, end of stream.
    Rejected,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Timer {
    KeepAlive,
    Header,
    /// Idle for a while: hand the socket back, so hyper's buffers can be freed.
    Park,
}

struct ArmedTimer {
    sleep: Pin<Box<Sleep>>,
    kind: Timer,
    /// `Http1Guard::heads` when armed.
    heads: u64,
}

pub struct Http1Guard<IO> {
    /// None once parked.
    io: Option<IO>,
    park_slot: Option<ParkSlot<IO>>,
    /// Bytes read from the socket that hyper has not been given yet.
    buf: BytesMut,
    /// How many bytes at the front of `buf` are checked and may be given to hyper.
    ready: usize,
    /// How many bytes at the front of `buf` have been classified (>= ready).
    checked: usize,
    framing: Framing,
    eof: bool,
    limits: GuardLimits,
    activity: Arc<ConnActivity>,
    timer: Option<ArmedTimer>,
    /// Request heads seen so far (the timers' notion of activity).
    heads: u64,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Http1Guard<IO> {
    pub fn new(io: IO, initial: BytesMut, limits: GuardLimits, activity: Arc<ConnActivity>) -> Self {
        Http1Guard {
            io: Some(io),
            park_slot: None,
            buf: initial,
            ready: 0,
            checked: 0,
            framing: Framing::Head,
            eof: false,
            limits,
            activity,
            timer: None,
            heads: 0,
        }
    }

    /// Parks the connection when it has been idle for `park_after`: the socket goes into
    /// `slot` and hyper sees the end of the stream, so its connection ends and frees its
    /// buffers (16 KiB or more) while nothing happens. The connection loop then waits for
    /// the socket with nothing else held, and serves it anew when a request arrives.
    pub fn with_parking(mut self, slot: ParkSlot<IO>) -> Self {
        self.park_slot = Some(slot);
        self
    }

    /// No inspection at all: hands `initial` (bytes already read while sniffing the
    /// protocol) to the reader first, then the socket's bytes. Used for HTTP/2.
    pub fn passthrough(io: IO, initial: BytesMut, limits: GuardLimits) -> Self {
        let mut guard = Self::new(io, initial, limits, Arc::default());
        guard.framing = Framing::Passthrough;
        guard
    }

    /// Classifies buffered bytes; returns whether anything changed.
    fn classify(&mut self) -> bool {
        let unchecked = self.buf.len() - self.checked;
        if unchecked == 0 && !matches!(self.framing, Framing::Rejected) {
            return false;
        }
        match &mut self.framing {
            Framing::Head => self.classify_head(),
            Framing::Fixed(left) => {
                let take = (*left).min(unchecked as u64);
                *left -= take;
                self.checked += take as usize;
                self.ready = self.checked;
                if *left == 0 {
                    self.framing = Framing::Head;
                }
                true
            }
            Framing::Chunked { scan, held } => match body_end(scan, &self.buf[self.checked..]) {
                Err(_) => {
                    if *held {
                        self.refuse("invalid chunked framing");
                    } else {
                        // The head is already with hyper; its own decoder fails on the same
                        // bytes and aborts the request.
                        self.checked = self.buf.len();
                        self.ready = self.checked;
                        self.framing = Framing::Passthrough;
                    }
                    true
                }
                Ok(n) => {
                    self.checked += n;
                    let done = scan.is_done();
                    if *held && (scan.first_size_seen() || done) {
                        *held = false;
                    }
                    if !*held {
                        self.ready = self.checked;
                    }
                    if done {
                        self.framing = Framing::Head;
                    }
                    n > 0 || done
                }
            },
            Framing::Passthrough => {
                self.checked = self.buf.len();
                self.ready = self.checked;
                true
            }
            Framing::Rejected => false,
        }
    }

    fn classify_head(&mut self) -> bool {
        let head = &self.buf[self.checked..];
        let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let verdict = match req.parse_with_uninit_headers(head, &mut headers) {
            Ok(httparse::Status::Partial) if head.len() <= self.limits.max_head_bytes => return false,
            Ok(httparse::Status::Complete(len)) => Some((len, judge(&req))),
            _ => None,
        };
        match verdict {
            Some((len, Verdict::Body(framing))) => {
                self.checked += len;
                self.heads += 1;
                match framing {
                    Framing::Chunked { scan, held: _ } if !expects_continue(&req) => {
                        self.framing = Framing::Chunked { scan, held: true };
                    }
                    other => {
                        self.ready = self.checked;
                        self.framing = other;
                    }
                }
                true
            }
            Some((_, Verdict::Refuse(why))) => {
                self.refuse(why);
                true
            }
            Some((_, Verdict::HandToHyper)) | None => {
                self.framing = Framing::Passthrough;
                true
            }
        }
    }

    fn refuse(&mut self, why: &'static str) {
        tracing::debug!(why, "refusing ambiguous request");
        self.buf.truncate(self.ready);
        self.buf.extend_from_slice(POISON);
        self.checked = self.buf.len();
        self.ready = self.checked;
        self.framing = Framing::Rejected;
    }

    /// The timer that should run now, if any.
    fn wanted_timer(&self) -> Option<Timer> {
        match self.framing {
            Framing::Head if self.buf.len() > self.checked => Some(Timer::Header),
            Framing::Head if self.park_slot.is_some() => Some(Timer::Park),
            Framing::Head => Some(Timer::KeepAlive),
            _ => None,
        }
    }

    fn arm(&mut self, kind: Timer) {
        let after = match kind {
            Timer::KeepAlive => self.limits.keepalive_timeout,
            Timer::Header => self.limits.header_timeout,
            Timer::Park => self.limits.park_after.min(self.limits.keepalive_timeout),
        };
        let deadline = Instant::now() + after;
        match &mut self.timer {
            Some(t) => t.sleep.as_mut().reset(deadline),
            None => {
                self.timer = Some(ArmedTimer { sleep: Box::pin(tokio::time::sleep_until(deadline)), kind, heads: 0 })
            }
        }
        let heads = self.heads;
        if let Some(t) = &mut self.timer {
            t.kind = kind;
            t.heads = heads;
        }
    }

    /// Polls the idle timers; `Ready` says which one ended the wait.
    ///
    /// The timer is lazy, so that a busy keep-alive connection costs no timer operation per
    /// request: it is armed once, and when it fires it checks whether the connection has
    /// been in the same state, with no new request head and no response in progress, since
    /// it was armed. If not, it is re-armed. An idle connection therefore closes between one
    /// and two timeouts after its last response. The header timer starts exactly at the
    /// first byte of a head.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Poll<Timer> {
        let Some(kind) = self.wanted_timer() else {
            return Poll::Pending;
        };
        let armed = self.timer.as_ref().map(|t| t.kind);
        if armed.is_none() || (kind == Timer::Header && armed != Some(Timer::Header)) {
            self.arm(kind);
        }
        loop {
            let t = self.timer.as_mut().expect("armed above");
            if t.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let quiet = kind == Timer::Header || self.activity.idle();
            if t.kind == kind && t.heads == self.heads && quiet {
                return Poll::Ready(kind);
            }
            self.arm(kind);
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Http1Guard<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.io.is_none() {
            return Poll::Ready(Ok(()));
        }
        if this.activity.is_upgraded() && !matches!(this.framing, Framing::Passthrough | Framing::Rejected) {
            // The bytes are the tunnel's now, including any held back as a would-be head.
            this.framing = Framing::Passthrough;
        }
        loop {
            if this.ready > 0 {
                let n = this.ready.min(out.remaining());
                out.put_slice(&this.buf[..n]);
                this.buf.advance(n);
                this.ready -= n;
                this.checked -= n;
                return Poll::Ready(Ok(()));
            }
            if this.classify() {
                continue;
            }
            if this.eof || matches!(this.framing, Framing::Rejected) {
                // At end of stream, a partial head goes to hyper as it is, which refuses it.
                if this.buf.len() > this.checked && !matches!(this.framing, Framing::Rejected) {
                    this.checked = this.buf.len();
                    this.ready = this.checked;
                    continue;
                }
                return Poll::Ready(Ok(()));
            }
            // Bodies of known length and tunnels go straight into hyper's buffer.
            if this.buf.is_empty() {
                let direct = match this.framing {
                    Framing::Fixed(left) => Some(left.min(out.remaining() as u64) as usize),
                    Framing::Passthrough => Some(out.remaining()),
                    _ => None,
                };
                if let Some(limit) = direct {
                    let mut sub = out.take(limit);
                    let io = this.io.as_mut().expect("not parked");
                    std::task::ready!(Pin::new(io).poll_read(cx, &mut sub))?;
                    let n = sub.filled().len();
                    // SAFETY: `sub` wrote `n` initialised bytes at the start of `out`'s unfilled part.
                    unsafe { out.assume_init(n) };
                    out.advance(n);
                    if let Framing::Fixed(left) = &mut this.framing {
                        *left -= n as u64;
                        if *left == 0 {
                            this.framing = Framing::Head;
                        }
                    }
                    return Poll::Ready(Ok(()));
                }
            }
            this.buf.reserve(READ_CHUNK);
            let spare = this.buf.spare_capacity_mut();
            let mut rb = ReadBuf::uninit(spare);
            let io = this.io.as_mut().expect("not parked");
            match Pin::new(io).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    // SAFETY: the reader initialised `n` bytes of the spare capacity.
                    unsafe { this.buf.set_len(this.buf.len() + n) };
                    if n == 0 {
                        this.eof = true;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    return match this.poll_timers(cx) {
                        Poll::Ready(Timer::Park) => {
                            if let (Some(slot), Some(io)) = (&this.park_slot, this.io.take()) {
                                *slot.lock().unwrap() = Some(io);
                            }
                            this.buf = BytesMut::new();
                            this.timer = None;
                            Poll::Ready(Ok(()))
                        }
                        Poll::Ready(_) => {
                            tracing::debug!("client connection idle or too slow; closing");
                            this.eof = true;
                            this.buf.clear();
                            this.checked = 0;
                            Poll::Ready(Ok(()))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Http1Guard<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut().io.as_mut() {
            Some(io) => Pin::new(io).poll_write(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().io.as_mut() {
            Some(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.as_ref().is_some_and(|io| io.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().io.as_mut() {
            Some(io) => Pin::new(io).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.io.as_mut() {
            // After an upgrade a tunnel may rely on half-close: shut down for real.
            Some(io) if this.activity.is_upgraded() || matches!(this.framing, Framing::Passthrough) => {
                Pin::new(io).poll_shutdown(cx)
            }
            // Otherwise hyper is about to drop the connection, and close(2) sends the same
            // FIN: one syscall per connection less. A parked socket is not ours to touch.
            _ => Poll::Ready(Ok(())),
        }
    }
}
