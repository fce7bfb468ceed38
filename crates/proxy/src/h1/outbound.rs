//! Writing a response to an HTTP/1 client: the head (status line, headers, framing, `Date`,
//! `Connection`), then the body as it arrives, length-delimited or chunked, gathered into
//! vectored writes so that a small response costs one `writev`.
use super::inbound::Shared;
use crate::body::{FileRegion, ProxyBody};
use bytes::{BufMut, Bytes};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::response::Parts;
use http::{StatusCode, Version};
use hyper::body::Body;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::time::Sleep;

/// Body bytes gathered before they are written (backpressure: the body is not pulled
/// further while this much waits for the socket).
const HIGH_WATER: usize = 256 * 1024;
/// Pieces handed to one `writev`.
const MAX_SLICES: usize = 32;

/// How the body of a response is delimited on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Delimit {
    /// No body at all (HEAD, 1xx, 204, 304).
    NoBody,
    Length(u64),
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client and a body of unknown length).
    Close,
}

/// What the exchange needs to know about the request it answers.
pub(super) struct Answering {
    pub method_is_head: bool,
    pub version: Version,
    /// Keep the connection after this response (the client wants it and nothing forbids it).
    pub keep_alive: bool,
}

/// How the response went.
pub(super) struct Written {
    /// The connection may carry another request.
    pub reusable: bool,
}

/// Writes `head` and then `body` to the client.
pub(super) async fn write_response(
    conn: &Shared,
    out: &mut OutQueue,
    head: &Parts,
    body: &mut ProxyBody,
    answering: &Answering,
) -> io::Result<Written> {
    let delimit = delimit(head, body, answering);
    let keep_alive = answering.keep_alive && delimit != Delimit::Close;
    out.clear();
    // Interim responses the socket did not take yet go first.
    if !conn.interim.borrow().is_empty() {
        let interim = std::mem::take(&mut *conn.interim.borrow_mut());
        out.head.extend_from_slice(&interim);
    }
    encode_head(&mut out.head, head, delimit, keep_alive, answering.version);
    out.len = out.head.len();
    // The connection closes right after this response (a 101 goes on as a tunnel): its
    // last write may wait in the kernel for the close, and go out with the FIN.
    let closes_after = !keep_alive && head.status != StatusCode::SWITCHING_PROTOCOLS;
    if delimit == Delimit::NoBody {
        out.flush_all(conn, closes_after).await?;
        return Ok(Written { reusable: keep_alive && head.status != StatusCode::SWITCHING_PROTOCOLS });
    }
    // A stored body kept in a memory file goes by sendfile on a plain connection.
    let whole = matches!(delimit, Delimit::Length(n) if body.size_hint().exact() == Some(n));
    if let (true, false, Some(region)) = (whole, conn.stream.is_tls(), body.take_region()) {
        out.flush_all(conn, false).await?;
        send_region(conn, out.send_timeout, &region).await?;
        return Ok(Written { reusable: keep_alive });
    }
    let mut sent: u64 = 0;
    let mut body_done = false;
    let mut failed: Option<io::Error> = None;
    std::future::poll_fn(|cx| loop {
        if !body_done && out.len < HIGH_WATER {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        sent += data.len() as u64;
                        out.push_data(data, delimit == Delimit::Chunked);
                    }
                    continue;
                }
                Poll::Ready(Some(Err(e))) => {
                    // The body broke off (the upstream died, or framed it wrongly): what is
                    // gathered, the head among it, still goes out, as nginx sends it, with no
                    // last chunk; then the connection closes. The client sees the status and
                    // a body cut short, not a connection closed on it without a word.
                    failed = Some(io::Error::other(e));
                    body_done = true;
                    continue;
                }
                Poll::Ready(None) => {
                    body_done = true;
                    if delimit == Delimit::Chunked {
                        out.push(Bytes::from_static(b"0\r\n\r\n"));
                    }
                    continue;
                }
                Poll::Pending => {}
            }
        }
        if out.is_empty() {
            // What TLS holds goes out too, before the body is awaited or the response ends.
            std::task::ready!(conn.stream.poll_flush(cx))?;
            return if body_done { Poll::Ready(Ok::<(), io::Error>(())) } else { Poll::Pending };
        }
        std::task::ready!(out.poll_write(conn, cx, body_done && (closes_after || failed.is_some())))?;
    })
    .await?;
    if let Some(e) = failed {
        return Err(e);
    }
    let complete = match delimit {
        Delimit::Length(n) => sent == n,
        _ => true,
    };
    Ok(Written { reusable: keep_alive && complete })
}

/// Sends a body that is a file region (a cache's stored body) with `sendfile`.
async fn send_region(conn: &Shared, send_timeout: Duration, region: &FileRegion) -> io::Result<()> {
    let (mut offset, end) = (region.offset, region.offset + region.len);
    while offset < end {
        let ready = std::future::poll_fn(|cx| conn.stream.poll_write_ready(cx));
        tokio::time::timeout(send_timeout, ready)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))??;
        conn.before_write();
        let left = end - offset;
        match conn.stream.send_file(&region.file, &mut offset, left) {
            Some(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Some(Ok(_)) => {}
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Some(Err(e)) => return Err(e),
            None => return Err(io::Error::other("sendfile on a TLS connection")),
        }
    }
    Ok(())
}

/// Chooses the framing: the upstream's `Content-Length` when it gave one, an exact size the
/// body knows, else chunked (or close-delimited for HTTP/1.0).
fn delimit(head: &Parts, body: &ProxyBody, answering: &Answering) -> Delimit {
    let status = head.status;
    if answering.method_is_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Delimit::NoBody;
    }
    if let Some(n) = head.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()) {
        return Delimit::Length(n);
    }
    if let Some(n) = body.size_hint().exact() {
        return Delimit::Length(n);
    }
    if answering.version == Version::HTTP_11 {
        Delimit::Chunked
    } else {
        Delimit::Close
    }
}

fn encode_head(out: &mut Vec<u8>, head: &Parts, delimit: Delimit, keep_alive: bool, version: Version) {
    if out.capacity() == 0 {
        out.reserve(head_room(head));
    }
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(head.status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(head.status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.put_slice(b"\r\n");
    // Noted on the way through the fields rather than looked up (hashed) after them.
    let (mut has_length, mut has_date) = (false, false);
    for (name, value) in &head.headers {
        has_length |= name == CONTENT_LENGTH;
        has_date |= name == DATE;
        // Framing and persistence are this hop's to say.
        if name == TRANSFER_ENCODING || (name == CONNECTION && head.status != StatusCode::SWITCHING_PROTOCOLS) {
            continue;
        }
        if name == CONTENT_LENGTH && !matches!(delimit, Delimit::Length(_) | Delimit::NoBody) {
            continue;
        }
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value.as_bytes());
        out.put_slice(b"\r\n");
    }
    match delimit {
        Delimit::Length(n) if !has_length => {
            out.put_slice(b"content-length: ");
            out.put_slice(itoa(n, &mut [0; 20]));
            out.put_slice(b"\r\n");
        }
        Delimit::Chunked => out.put_slice(b"transfer-encoding: chunked\r\n"),
        _ => {}
    }
    if !has_date {
        out.put_slice(b"date: ");
        DATE_CACHE.with(|d| out.put_slice(d.borrow_mut().now()));
        out.put_slice(b"\r\n");
    }
    if head.status != StatusCode::SWITCHING_PROTOCOLS {
        if !keep_alive {
            out.put_slice(b"connection: close\r\n");
        } else if version == Version::HTTP_10 {
            out.put_slice(b"connection: keep-alive\r\n");
        }
    }
    out.put_slice(b"\r\n");
}

/// What [`encode_head`] can write for `head`: its fields, and the status line and the lines
/// it adds at their longest. A new connection's buffer has no room yet, and reserving this
/// at once spares the five reallocations that growing as it went took on every
/// connection's first response (later ones reuse the room).
fn head_room(head: &Parts) -> usize {
    let fields: usize = head.headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    // "HTTP/1.1 511 Network Authentication Required", content-length at 20 digits, date,
    // connection, and the blank line, each with its CRLF.
    const ADDED: usize = 46 + 38 + 37 + 24 + 2;
    fields + ADDED
}

/// Formats `n` in decimal into `buf`.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// The `Date` value, formatted once a second per worker thread.
struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        if second != self.second || self.text.is_empty() {
            self.second = second;
            self.text = httpdate::fmt_http_date(now);
        }
        self.text.as_bytes()
    }
}

thread_local! {
    static DATE_CACHE: RefCell<DateCache> = const { RefCell::new(DateCache { second: 0, text: String::new() }) };
}

/// Bytes waiting for the socket, in order: the response head, then body pieces. Kept by
/// the connection, so that a response allocates neither its head nor its queue.
pub(super) struct OutQueue {
    head: Vec<u8>,
    /// How much of `head` has been written.
    head_sent: usize,
    parts: VecDeque<Bytes>,
    len: usize,
    /// How long the client may leave the socket unwritable before the connection is given
    /// up (`client_send`), and the timer, armed only while it does.
    send_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl OutQueue {
    pub fn new(send_timeout: Duration) -> OutQueue {
        OutQueue { head: Vec::new(), head_sent: 0, parts: VecDeque::new(), len: 0, send_timeout, stalled: None }
    }

    fn clear(&mut self) {
        self.head.clear();
        self.head_sent = 0;
        self.parts.clear();
        self.len = 0;
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.parts.push_back(bytes);
        }
    }

    fn push_data(&mut self, data: Bytes, chunked: bool) {
        if data.is_empty() {
            return;
        }
        if chunked {
            self.push(Bytes::from(format!("{:x}\r\n", data.len())));
            self.push(data);
            self.push(Bytes::from_static(b"\r\n"));
        } else {
            self.push(data);
        }
    }

    /// One vectored write of what is queued.
    ///
    /// `last`: nothing follows but the close. The write is then flagged `MSG_MORE`, so the
    /// kernel holds back its final partial segment, and the close sends it with the FIN
    /// in one packet rather than two: a closing exchange costs both ends a packet less.
    /// Whoever closes must close at once, or shut the write side (see `h1::serve`).
    fn poll_write(&mut self, conn: &Shared, cx: &mut Context<'_>, last: bool) -> Poll<io::Result<()>> {
        let stream = &conn.stream;
        loop {
            if stream.poll_write_ready(cx)?.is_pending() {
                let limit = self.send_timeout;
                let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if stalled.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading")));
                }
                return Poll::Pending;
            }
            conn.before_write();
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let head = &self.head[self.head_sent..];
            let pieces = std::iter::once(head).filter(|h| !h.is_empty()).chain(self.parts.iter().map(|b| &b[..]));
            let n = pieces.take(MAX_SLICES).zip(slices.iter_mut()).map(|(b, s)| *s = IoSlice::new(b)).count();
            let sent = stream.send(&slices[..n], last);
            match sent {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(written) => {
                    self.stalled = None;
                    self.advance(written);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        let from_head = n.min(self.head.len() - self.head_sent);
        self.head_sent += from_head;
        n -= from_head;
        while n > 0 {
            let front = self.parts.front_mut().expect("wrote no more than was queued");
            if n < front.len() {
                let _ = front.split_to(n);
                return;
            }
            n -= front.len();
            self.parts.pop_front();
        }
    }

    async fn flush_all(&mut self, conn: &Shared, last: bool) -> io::Result<()> {
        while !self.is_empty() {
            std::future::poll_fn(|cx| self.poll_write(conn, cx, last)).await?;
        }
        std::future::poll_fn(|cx| conn.stream.poll_flush(cx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, headers: &[(&str, &str)]) -> Parts {
        let mut resp = http::Response::builder().status(status);
        for (k, v) in headers {
            resp = resp.header(*k, *v);
        }
        resp.body(()).unwrap().into_parts().0
    }

    #[test]
    fn framing_follows_the_response_and_the_client() {
        let get11 = Answering { method_is_head: false, version: Version::HTTP_11, keep_alive: true };
        let get10 = Answering { method_is_head: false, version: Version::HTTP_10, keep_alive: true };
        let streaming = ProxyBody::empty();
        assert_eq!(delimit(&head(200, &[("content-length", "5")]), &streaming, &get11), Delimit::Length(5));
        assert_eq!(delimit(&head(204, &[]), &streaming, &get11), Delimit::NoBody);
        assert_eq!(delimit(&head(200, &[]), &ProxyBody::full("abc"), &get10), Delimit::Length(3));
        let mut text = Vec::new();
        encode_head(&mut text, &head(200, &[("x-a", "1")]), Delimit::Chunked, false, Version::HTTP_11);
        let text = String::from_utf8_lossy(&text);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nx-a: 1\r\ntransfer-encoding: chunked\r\ndate: "), "{text}");
        assert!(text.ends_with("GMT\r\nconnection: close\r\n\r\n"), "{text}");
        // The response's own length and date go out as they are, and none is added.
        let own = head(200, &[("date", "Tue, 08 Dec 2026 00:00:00 GMT"), ("content-length", "5")]);
        let mut text = Vec::new();
        encode_head(&mut text, &own, Delimit::Length(5), true, Version::HTTP_11);
        let text = String::from_utf8_lossy(&text);
        assert_eq!(text, "HTTP/1.1 200 OK\r\ndate: Tue, 08 Dec 2026 00:00:00 GMT\r\ncontent-length: 5\r\n\r\n");
    }

    #[test]
    fn the_head_fits_the_room_reserved_for_it() {
        for (status, delimit, keep_alive, version) in [
            (511, Delimit::Length(u64::MAX), true, Version::HTTP_10),
            (200, Delimit::Chunked, false, Version::HTTP_11),
            (599, Delimit::Close, false, Version::HTTP_11),
        ] {
            let head = head(status, &[("x-a", "1"), ("set-cookie", "a=b; Path=/")]);
            let mut text = Vec::new();
            encode_head(&mut text, &head, delimit, keep_alive, version);
            assert!(text.len() <= head_room(&head), "{}", String::from_utf8_lossy(&text));
            assert_eq!(text.capacity(), head_room(&head), "one allocation, as reserved");
        }
    }

    #[test]
    fn the_queue_advances_through_the_head_then_the_pieces() {
        let mut q = OutQueue::new(Duration::from_secs(1));
        q.head.extend_from_slice(b"head");
        q.len = 4;
        q.push(Bytes::from_static(b"body"));
        q.advance(2);
        assert_eq!(&q.head[q.head_sent..], b"ad");
        q.advance(4);
        assert_eq!((&q.parts[0][..], q.len), (&b"dy"[..], 2));
        q.advance(2);
        assert!(q.is_empty() && q.parts.is_empty());
    }

    #[test]
    fn decimal() {
        assert_eq!(itoa(0, &mut [0; 20]), b"0");
        assert_eq!(itoa(1048576, &mut [0; 20]), b"1048576");
    }
}
