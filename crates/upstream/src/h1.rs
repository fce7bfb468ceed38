//! A lean HTTP/1.1 client for the most common exchange: a request without a body and
//! without an upgrade. The request's own task writes the head and reads the response head;
//! the response body reads straight from the socket. No connection task, no channels:
//! this is the hot path of a reverse proxy. Requests with bodies (which must be sent while
//! the response may already be arriving) and upgrades go through hyper's client instead.
use crate::chunked::ChunkedFraming;
use crate::InterimSink;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{request, response, Method, StatusCode, Version};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

const MAX_HEAD: usize = 64 * 1024;
/// Request bodies up to this size are written together with the head.
const COPIED_BODY: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;
/// Most responses have fewer headers; zeroing a small array first is cheaper.
const USUAL_HEADERS: usize = 24;
const READ_CHUNK: usize = 32 * 1024;

/// One upstream connection with its read buffer.
pub struct H1Conn {
    stream: TcpStream,
    buf: BytesMut,
    out: Vec<u8>,
    /// Exchanges started on this connection: the response timer's notion of progress.
    exchanges: u64,
    timer: Option<ResponseTimer>,
}

/// The response-header timer, lazy like the client-side ones: armed once, and when it fires
/// while a later exchange than the one it was armed for is waiting, re-armed. A slow
/// upstream is therefore cut off between one and two timeouts after the request was sent,
/// and a busy connection pays no timer operation per request.
struct ResponseTimer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed_for: u64,
}

/// Why an exchange failed, and whether sending again on a new connection is safe.
#[derive(Debug)]
pub enum H1Error {
    /// The connection failed before any byte of a response: the server may have closed an
    /// idle connection just as we used it.
    BeforeResponse(io::Error),
    /// A malformed or ambiguously framed response.
    BadResponse(&'static str),
    /// The connection broke during the response.
    Io(io::Error),
}

impl std::fmt::Display for H1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H1Error::BeforeResponse(e) => write!(f, "connection failed before the response: {e}"),
            H1Error::BadResponse(why) => write!(f, "bad response: {why}"),
            H1Error::Io(e) => write!(f, "connection failed: {e}"),
        }
    }
}

impl std::error::Error for H1Error {}

/// How the response body is delimited.
#[derive(Debug)]
pub enum Framing {
    Length(u64),
    Chunked(ChunkedFraming),
    UntilClose,
}

impl H1Conn {
    /// Boxed once for its whole life: the connection moves in and out of the pool and the
    /// response body on every request, and a pointer moves cheaply.
    pub fn new(stream: TcpStream) -> Box<H1Conn> {
        Box::new(H1Conn { stream, buf: BytesMut::new(), out: Vec::with_capacity(512), exchanges: 0, timer: None })
    }

    /// Gives back the buffers and the timer of a connection idle in the pool since the last
    /// sweep (as nginx frees an upstream keep-alive connection's buffers): up to
    /// `keepalive_max` connections per server wait there, and each held 9 KB it is not
    /// using. A busy connection keeps them, so that it allocates nothing per request.
    pub fn shed(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
        self.out = Vec::new();
        self.timer = None;
    }

    /// Whether an idle pooled connection is still usable: nothing arrived on it (no FIN,
    /// no stray bytes), and nothing was left over from the last response (an origin that
    /// sent more than its Content-Length said: the next response would start inside that
    /// surplus). Costs no syscall unless the socket was signalled readable.
    pub fn is_reusable(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut probe = [0u8; 1];
                matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Sends a bodiless request and reads the response head, giving up (`Ok(None)`) after
    /// `timeout` (see [`ResponseTimer`]).
    pub async fn exchange_within(
        &mut self,
        req: &InlineRequest<'_>,
        timeout: Duration,
    ) -> Result<Option<(response::Parts, Framing, bool)>, H1Error> {
        self.exchanges += 1;
        let this_exchange = self.exchanges;
        if self.timer.is_none() {
            let sleep = Box::pin(tokio::time::sleep(timeout));
            self.timer = Some(ResponseTimer { sleep, armed_for: this_exchange });
        }
        let mut timer = self.timer.take().expect("set above");
        let expired = std::future::poll_fn(|cx| loop {
            if timer.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if timer.armed_for == this_exchange {
                return Poll::Ready(());
            }
            timer.armed_for = this_exchange;
            timer.sleep.as_mut().reset(tokio::time::Instant::now() + timeout);
        });
        let result = tokio::select! {
            biased;
            r = self.exchange(req) => r.map(Some),
            _ = expired => Ok(None),
        };
        self.timer = Some(timer);
        result
    }

    /// Sends a request, with its whole `body` (empty for none; the head says its length),
    /// and reads the response head.
    async fn exchange(&mut self, inline: &InlineRequest<'_>) -> Result<(response::Parts, Framing, bool), H1Error> {
        let InlineRequest { parts: req, extra_head, body, interim } = *inline;
        encode_head(&mut self.out, req, extra_head);
        // A small body goes out in the head's write; a larger one after it, not copied into
        // a buffer that lives as long as the pooled connection.
        let copied = body.len() <= COPIED_BODY;
        if copied {
            self.out.extend_from_slice(body);
        }
        self.stream.write_all(&self.out).await.map_err(H1Error::BeforeResponse)?;
        if !copied {
            self.stream.write_all(body).await.map_err(H1Error::BeforeResponse)?;
        }
        loop {
            let (head, framing, keep_alive) = self.read_head(req).await?;
            if head.status.is_informational() {
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(H1Error::BadResponse("101 without an upgrade request"));
                }
                // 100 Continue is this hop's (the body went whole); the others (103 Early
                // Hints, 102 Processing) go on to the client, when it can take them.
                if head.status != StatusCode::CONTINUE {
                    if let Some(sink) = interim {
                        sink.interim(&head);
                    }
                }
                continue;
            }
            return Ok((head, framing, keep_alive));
        }
    }

    async fn read_head(&mut self, req: &request::Parts) -> Result<(response::Parts, Framing, bool), H1Error> {
        let mut first_read = true;
        loop {
            if !self.buf.is_empty() {
                if let Some(done) = parse_head(&mut self.buf, &req.method)? {
                    return Ok(done);
                }
                if self.buf.len() > MAX_HEAD {
                    return Err(H1Error::BadResponse("response head too large"));
                }
            }
            self.buf.reserve(8192);
            let n = std::future::poll_fn(|cx| read_some(&mut self.stream, &mut self.buf, cx)).await;
            match n {
                Ok(0) if self.buf.is_empty() && first_read => {
                    return Err(H1Error::BeforeResponse(io::ErrorKind::UnexpectedEof.into()))
                }
                Ok(0) => return Err(H1Error::BadResponse("connection closed inside the response head")),
                Ok(_) => first_read = false,
                Err(e) if self.buf.is_empty() && first_read => return Err(H1Error::BeforeResponse(e)),
                Err(e) => return Err(H1Error::Io(e)),
            }
        }
    }
}

/// Reads once from `stream` into the spare capacity of `buf`.
fn read_some(stream: &mut TcpStream, buf: &mut BytesMut, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
    let spare = buf.spare_capacity_mut();
    let mut rb = ReadBuf::uninit(spare);
    std::task::ready!(Pin::new(stream).poll_read(cx, &mut rb))?;
    let n = rb.filled().len();
    // SAFETY: the reader initialised `n` bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Poll::Ready(Ok(n))
}

/// A request for the inline HTTP/1.1 client, borrowed whole (one pointer down the
/// futures that send it, so that they stay small): its head, header lines written after
/// the head's own (each ending in CRLF), its body read whole (empty for none; the head
/// says its length), and where its interim responses go.
#[derive(Clone, Copy)]
pub struct InlineRequest<'a> {
    pub parts: &'a request::Parts,
    pub extra_head: &'a [u8],
    pub body: &'a [u8],
    pub interim: Option<&'a dyn InterimSink>,
}

/// The request head: `req`'s line and headers, then `extra_head` (header lines the caller
/// rendered already, each ending in CRLF).
fn encode_head(out: &mut Vec<u8>, req: &request::Parts, extra_head: &[u8]) {
    out.clear();
    out.extend_from_slice(req.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(req.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &req.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(extra_head);
    out.extend_from_slice(b"\r\n");
}

/// Parses a complete response head at the front of `buf` (consuming it), or `None` if more
/// bytes are needed.
fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<(response::Parts, Framing, bool)>, H1Error> {
    match parse_with::<USUAL_HEADERS>(buf, method) {
        Err(ParseError::TooManyHeaders) => parse_with::<MAX_HEADERS>(buf, method).map_err(ParseError::into_h1),
        other => other.map_err(ParseError::into_h1),
    }
}

enum ParseError {
    TooManyHeaders,
    Bad(H1Error),
}

impl ParseError {
    fn into_h1(self) -> H1Error {
        match self {
            ParseError::TooManyHeaders => H1Error::BadResponse("too many response headers"),
            ParseError::Bad(e) => e,
        }
    }
}

impl From<H1Error> for ParseError {
    fn from(e: H1Error) -> Self {
        ParseError::Bad(e)
    }
}

fn parse_with<const N: usize>(
    buf: &mut BytesMut,
    method: &Method,
) -> Result<Option<(response::Parts, Framing, bool)>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; N];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        Err(_) => return Err(H1Error::BadResponse("malformed response head").into()),
    };
    let status = resp.code.and_then(|c| StatusCode::from_u16(c).ok()).ok_or(H1Error::BadResponse("bad status"))?;
    let version = if resp.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };
    // Where each name and value lies in the head: kept on the stack (no allocation per
    // response), so the head can be split off and its values shared without copying.
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let mut spans = [(0usize, 0usize, 0usize, 0usize); N];
    let count = resp.headers.len();
    for (span, h) in spans.iter_mut().zip(resp.headers.iter()) {
        let (name, value) = (offset(h.name.as_bytes()), offset(h.value));
        *span = (name, name + h.name.len(), value, value + h.value.len());
    }
    let head = buf.split_to(len).freeze();
    // One more for the X-Request-Id the proxy adds.
    let mut map = HeaderMap::with_capacity(count + 1);
    let mut lengths = 0;
    for &(name_start, name_end, value_start, value_end) in &spans[..count] {
        let name =
            HeaderName::from_bytes(&head[name_start..name_end]).map_err(|_| H1Error::BadResponse("bad header name"))?;
        lengths += usize::from(name == CONTENT_LENGTH);
        let value = HeaderValue::from_maybe_shared(head.slice(value_start..value_end))
            .map_err(|_| H1Error::BadResponse("bad header value"))?;
        map.append(name, value);
    }
    let (framing, keep_alive) = framing(status, method, version, &map)?;
    if lengths > 1 {
        // Equal lengths (`framing` refused any that differ): passed on as one.
        let length = map.get(CONTENT_LENGTH).cloned().expect("present");
        map.insert(CONTENT_LENGTH, length);
    }
    let mut parts = response::Response::new(()).into_parts().0;
    parts.status = status;
    parts.version = version;
    parts.headers = map;
    Ok(Some((parts, framing, keep_alive)))
}

/// The body's framing and whether the connection can carry another request afterwards.
fn framing(
    status: StatusCode,
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<(Framing, bool), H1Error> {
    // One pass over the fields (names compared by their standard tag) instead of four
    // hashed lookups: Connection, Transfer-Encoding, and Content-Length twice.
    let mut close = version != Version::HTTP_11;
    let mut te = None;
    let mut length: Option<u64> = None;
    for (name, value) in headers {
        if name == CONNECTION {
            close |= value.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
        } else if name == TRANSFER_ENCODING {
            te = Some(value);
        } else if name == CONTENT_LENGTH {
            // Checked even where no body follows (HEAD, 204, 304): the field is passed on,
            // and a client must not be handed two lengths to choose from (nginx refuses
            // them alike).
            let n = parse_length(value.as_bytes())?;
            if length.is_some_and(|first| first != n) {
                return Err(H1Error::BadResponse("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    let no_body = *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational();
    if te.is_some() && length.is_some() {
        return Err(H1Error::BadResponse("both Content-Length and Transfer-Encoding"));
    }
    let framing = if no_body {
        Framing::Length(0)
    } else if let Some(te) = te {
        let last = te.as_bytes().rsplit(|&b| b == b',').next().unwrap_or(b"").trim_ascii();
        if last.eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked(ChunkedFraming::default())
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let reusable = !close && !matches!(framing, Framing::UntilClose);
    Ok((framing, reusable))
}

fn parse_length(v: &[u8]) -> Result<u64, H1Error> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return Err(H1Error::BadResponse("invalid Content-Length"));
    }
    Ok(std::str::from_utf8(v).expect("digits").parse().expect("at most 18 digits"))
}

/// Progress of a response body read from an [`H1Conn`].
pub enum BodyPoll {
    Data(Bytes),
    /// The body is complete; the connection may carry another request if it was reusable.
    End,
}

impl H1Conn {
    /// The next piece of the body.
    pub fn poll_body(&mut self, framing: &mut Framing, cx: &mut Context<'_>) -> Poll<Result<BodyPoll, H1Error>> {
        loop {
            match framing {
                Framing::Length(0) => return Poll::Ready(Ok(BodyPoll::End)),
                Framing::Length(left) if !self.buf.is_empty() => {
                    let take = (*left).min(self.buf.len() as u64);
                    *left -= take;
                    return Poll::Ready(Ok(BodyPoll::Data(self.buf.split_to(take as usize).freeze())));
                }
                Framing::Chunked(f) => match f.decode(&mut self.buf) {
                    Err(_) => return Poll::Ready(Err(H1Error::BadResponse("invalid chunked framing"))),
                    Ok(Some(data)) => return Poll::Ready(Ok(BodyPoll::Data(data))),
                    Ok(None) if f.is_done() => return Poll::Ready(Ok(BodyPoll::End)),
                    Ok(None) => {}
                },
                Framing::UntilClose if !self.buf.is_empty() => {
                    return Poll::Ready(Ok(BodyPoll::Data(self.buf.split().freeze())));
                }
                _ => {}
            }
            self.buf.reserve(READ_CHUNK);
            match std::task::ready!(read_some(&mut self.stream, &mut self.buf, cx)) {
                Ok(0) if matches!(framing, Framing::UntilClose) => return Poll::Ready(Ok(BodyPoll::End)),
                Ok(0) => return Poll::Ready(Err(H1Error::BadResponse("connection closed inside the body"))),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(H1Error::Io(e))),
            }
        }
    }
}

/// Whether a request may be sent again after its connection failed before any response.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], method: Method) -> Result<Option<(response::Parts, Framing, bool)>, H1Error> {
        parse_head(&mut BytesMut::from(raw), &method)
    }

    #[test]
    fn framing_of_responses() {
        let (p, f, keep) =
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", Method::GET).unwrap().unwrap();
        assert_eq!((p.status, p.headers["x-a"].as_bytes()), (StatusCode::OK, &b"b"[..]));
        assert!(matches!(f, Framing::Length(5)) && keep);
        let (_, f, keep) =
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Method::GET).unwrap().unwrap();
        assert!(matches!(f, Framing::Chunked(_)) && keep);
        let (_, f, keep) = parse(b"HTTP/1.1 200 OK\r\n\r\n", Method::GET).unwrap().unwrap();
        assert!(matches!(f, Framing::UntilClose) && !keep);
        let (_, f, _) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", Method::HEAD).unwrap().unwrap();
        assert!(matches!(f, Framing::Length(0)));
        let (_, _, keep) =
            parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", Method::GET).unwrap().unwrap();
        assert!(!keep);
        // Every line counts, in order: `close` on a second Connection line, and the last
        // Transfer-Encoding line's last coding (not chunked: the body runs to the close).
        let two_lines =
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: x, close\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse(two_lines, Method::GET).unwrap().unwrap().2);
        let te = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n";
        let (_, f, keep) = parse(te, Method::GET).unwrap().unwrap();
        assert!(matches!(f, Framing::UntilClose) && !keep);
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Le", Method::GET).unwrap().is_none());
    }

    #[test]
    fn ambiguous_responses_are_refused() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
        ] {
            assert!(parse(bad, Method::GET).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Where no body follows, the lengths are passed on: they must still agree.
        for (bad, method) in [
            (&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"[..], Method::HEAD),
            (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", Method::HEAD),
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n", Method::GET),
            (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Method::GET),
        ] {
            assert!(parse(bad, method).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let same_twice = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
        assert!(parse(same_twice, Method::HEAD).unwrap().is_some(), "equal lengths are one length");
    }

    #[test]
    fn request_heads_are_written_in_origin_form() {
        let req = http::Request::get("/a?b=1").header("host", "x").body(()).unwrap().into_parts().0;
        let mut out = Vec::new();
        encode_head(&mut out, &req, b"x-extra: 1\r\n");
        assert_eq!(out, b"GET /a?b=1 HTTP/1.1\r\nhost: x\r\nx-extra: 1\r\n\r\n");
    }
}
