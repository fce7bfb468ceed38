//! A client connection and its read side, shared by the connection loop (which reads heads
//! and writes responses) and the request body (which the upstream client pulls while the
//! request is forwarded).
//! One worker thread owns both, so the sharing is an `Rc` and a `RefCell` whose borrows
//! never cross an await.
use super::rules::BodyFraming;
use crate::body::{BodySource, ClientBodyError};
use crate::transport::Transport;
use bytes::{Bytes, BytesMut};
use forecourt_upstream::chunked::ChunkedFraming;
use hyper::body::{Frame, SizeHint};
use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::{ready, Context, Poll};

/// Body reads go bigger: fewer syscalls for uploads.
const BODY_READ_CHUNK: usize = 64 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What [`Shared::into_resting`] made of a connection.
pub(super) enum Rest {
    /// The socket, out of the reactor, and the connection's count of writes.
    Socket(std::net::TcpStream, u8),
    /// Not one to rest: TLS, or bytes read or owed.
    Busy(Shared),
    /// The socket could not leave the reactor, and is closed.
    Closed,
}

/// A client connection: its socket and what has been read from it.
pub(super) struct Shared {
    pub stream: Transport,
    pub inbound: RefCell<Inbound>,
    /// Write calls made so far (counted up to 2; see [`Shared::before_write`]).
    writes: Cell<u8>,
    /// Interim responses (`interim.rs`) the socket has not taken yet: they go out before
    /// the final head.
    pub interim: RefCell<Vec<u8>>,
}

pub(super) struct Inbound {
    /// Bytes read and not yet consumed: the rest of a head, a body, the next request.
    pub buf: BytesMut,
    pub body: BodyState,
    pub eof: bool,
    /// Bytes of `100 Continue` still to send before the body is read (0: none owed).
    continue_left: usize,
}

/// Where the current request's body is.
#[derive(Debug)]
pub(super) enum BodyState {
    Done,
    Fixed(u64),
    Chunked(ChunkedFraming),
    /// Malformed or cut short: the connection cannot be reused.
    Broken,
}

impl Shared {
    pub fn new(stream: Transport, buf: BytesMut) -> Rc<Shared> {
        let inbound = Inbound { buf, body: BodyState::Done, eof: false, continue_left: 0 };
        Rc::new(Shared { stream, inbound: RefCell::new(inbound), writes: Cell::new(0), interim: RefCell::default() })
    }

    /// The plain socket of a connection with nothing read and nothing owed (no body, no
    /// buffered bytes, no `100 Continue`), taken out of the worker's reactor to wait in its
    /// lot, with its count of writes (which says whether `TCP_NODELAY` is on).
    pub fn into_resting(self) -> Rest {
        let inbound = self.inbound.borrow();
        let idle = inbound.buf.is_empty() && !inbound.eof && inbound.body_done() && inbound.continue_left == 0;
        drop(inbound);
        let writes = self.writes.get();
        match self.stream {
            Transport::Plain(tcp) if idle => match tcp.into_std() {
                Ok(socket) => Rest::Socket(socket, writes),
                Err(_) => Rest::Closed,
            },
            stream => Rest::Busy(Shared { stream, ..self }),
        }
    }

    /// A connection back from the lot (`writes`: its count when it went), nothing read yet.
    pub fn resumed(socket: tokio::net::TcpStream, writes: u8) -> Rc<Shared> {
        let shared = Shared::new(Transport::Plain(socket), BytesMut::new());
        shared.writes.set(writes);
        shared
    }

    /// Call before each write. Nagle's algorithm only holds back a write made while an
    /// earlier one is unacknowledged, so `TCP_NODELAY` is set (one syscall) before the
    /// connection's second write, as nginx does, and a connection that carries a single
    /// response never pays for it.
    pub fn before_write(&self) {
        match self.writes.get() {
            0 => self.writes.set(1),
            1 => {
                let _ = self.stream.set_nodelay(true);
                self.writes.set(2);
            }
            _ => {}
        }
    }

    /// Shuts our side for writing: the client sees the end of what we sent (and a write
    /// waiting for the close with `MSG_MORE` goes out), while reading goes on.
    pub fn shut_write(&self) -> io::Result<()> {
        self.stream.shutdown_write()
    }

    /// Reads what the socket has without waiting: `Ok(false)` when nothing was there.
    pub fn try_fill(&self, chunk: usize) -> io::Result<bool> {
        let mut inb = self.inbound.borrow_mut();
        if inb.buf.capacity() - inb.buf.len() < chunk / 4 {
            inb.buf.reserve(chunk);
        }
        match self.stream.read_buf(&mut inb.buf) {
            Ok(0) => {
                inb.eof = true;
                Ok(true)
            }
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Inbound {
    /// Starts the body of a request whose head was just taken out of `buf`.
    pub fn start_body(&mut self, framing: BodyFraming, expect_continue: bool) {
        self.body = match framing {
            BodyFraming::None => BodyState::Done,
            BodyFraming::Fixed(n) => BodyState::Fixed(n),
            BodyFraming::Chunked => BodyState::Chunked(ChunkedFraming::default()),
        };
        // A client that already sent body bytes is not waiting for the go-ahead.
        self.continue_left = if expect_continue && self.buf.is_empty() { CONTINUE.len() } else { 0 };
    }

    pub fn body_done(&self) -> bool {
        matches!(self.body, BodyState::Done)
    }

    /// Whether the chunked body's first size line is in the buffer and valid (or the body
    /// is not chunked). A request is not forwarded before this holds, so that a body with
    /// broken framing never reaches an upstream.
    pub fn first_chunk_checked(&self) -> Result<bool, ()> {
        let BodyState::Chunked(framing) = &self.body else { return Ok(true) };
        let mut probe = framing.clone();
        let mut at = 0;
        while at < self.buf.len() && !probe.first_size_seen() {
            at += probe.advance(&self.buf[at..]).map_err(|_| ())?.consumed;
        }
        Ok(probe.first_size_seen())
    }

    /// Takes the next piece of body out of the buffer: `Ok(None)` when more bytes are needed
    /// or the body is done.
    fn next_data(&mut self) -> Result<Option<Bytes>, ClientBodyError> {
        match &mut self.body {
            BodyState::Done => Ok(None),
            BodyState::Broken => Err(ClientBodyError::Invalid),
            BodyState::Fixed(left) => {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                let n = (*left).min(self.buf.len() as u64);
                *left -= n;
                if *left == 0 {
                    self.body = BodyState::Done;
                }
                Ok(Some(self.buf.split_to(n as usize).freeze()))
            }
            BodyState::Chunked(framing) => match framing.decode(&mut self.buf) {
                Ok(data) => {
                    if framing.is_done() {
                        self.body = BodyState::Done;
                    }
                    Ok(data)
                }
                Err(_) => {
                    self.body = BodyState::Broken;
                    Err(ClientBodyError::Invalid)
                }
            },
        }
    }

    /// Drops whatever of the body is already buffered (the response went out without it);
    /// true if that was all of it, so the connection can carry the next request.
    pub fn discard_buffered_body(&mut self) -> bool {
        while let Ok(Some(_)) = self.next_data() {}
        self.body_done()
    }
}

/// The request body of an HTTP/1 request, read from the connection as it is pulled: the
/// request's `IncomingBody::Stream` is this connection itself (an `Rc`, no allocation).
impl BodySource for Shared {
    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
        loop {
            {
                let mut inb = self.inbound.borrow_mut();
                match inb.next_data() {
                    Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(None) if inb.body_done() => return Poll::Ready(None),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
                if inb.eof {
                    inb.body = BodyState::Broken;
                    return Poll::Ready(Some(Err(ClientBodyError::Invalid)));
                }
            }
            if ready!(self.poll_continue(cx)).is_err() {
                self.inbound.borrow_mut().body = BodyState::Broken;
                return Poll::Ready(Some(Err(ClientBodyError::Invalid)));
            }
            if ready!(self.stream.poll_read_ready(cx)).is_err() {
                self.inbound.borrow_mut().body = BodyState::Broken;
                return Poll::Ready(Some(Err(ClientBodyError::Invalid)));
            }
            if self.try_fill(BODY_READ_CHUNK).is_err() {
                self.inbound.borrow_mut().body = BodyState::Broken;
                return Poll::Ready(Some(Err(ClientBodyError::Invalid)));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inbound.borrow().body_done()
    }

    fn size_hint(&self) -> SizeHint {
        match self.inbound.borrow().body {
            BodyState::Done => SizeHint::with_exact(0),
            BodyState::Fixed(left) => SizeHint::with_exact(left),
            _ => SizeHint::default(),
        }
    }
}

impl Shared {
    /// Sends what is left of `100 Continue` (owed when the body is first pulled).
    fn poll_continue(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let left = self.inbound.borrow().continue_left;
            if left == 0 {
                return Poll::Ready(Ok(()));
            }
            ready!(self.stream.poll_write_ready(cx))?;
            self.before_write();
            match self.stream.try_write(&CONTINUE[CONTINUE.len() - left..]) {
                Ok(n) => self.inbound.borrow_mut().continue_left -= n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}
