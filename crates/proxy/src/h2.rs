//! HTTP/2 client connections (h2c with prior knowledge, or h2 by ALPN over TLS), served
//! by hyper.
//!
//! Beside hyper's own keep-alive pings, which find dead peers, a connection that has no
//! stream open and starts none for the keep-alive time is closed gracefully (GOAWAY), as
//! an idle HTTP/1 connection is. A connection h2 cuts off (a flood, a protocol error) is
//! counted by cause (`h2_abuse`).
use crate::answers::{Reason, Style};
use crate::body::{IncomingBody, ProxyBody};
use crate::conn::Conn;
use crate::h1::{head_client, head_fields, refusal, tell_front_chain, Limits, NON_ASCII_TARGET};
use crate::h2_abuse::{Cutoff, CutoffLines};
use crate::pipeline::handle;
use crate::prefixed::Prefixed;
use crate::settings::NonAsciiTargets;
use crate::transport::Transport;
use crate::worker::Worker;
use bytes::{Bytes, BytesMut};
use forecourt_upstream::LocalExec;
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Serves one HTTP/2 connection; `first` holds the bytes already read (the preface).
pub async fn serve(worker: Rc<Worker>, stream: Transport, conn: Conn, first: BytesMut, limits: Limits) {
    let keepalive = limits.keepalive_timeout;
    let peer = conn.peer.ip();
    let streams = Rc::new(Streams::default());
    let service = service_for(&worker, conn, streams.clone(), limits.non_ascii_targets);
    let drain = worker.drain.watch();
    let io = TokioIo::new(Prefixed::new(first, stream));
    let mut builder = http2::Builder::new(LocalExec);
    builder
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(keepalive / 2))
        // The same bound on a request's headers as HTTP/1 has (hyper's default is 16 KiB).
        .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX));
    let conn = builder.serve_connection(io, service_fn(move |req| service(req)));
    tokio::pin!(conn);
    let idle_check = tokio::time::sleep(keepalive);
    tokio::pin!(idle_check);
    let mut seen = 0;
    loop {
        tokio::select! {
            biased;
            ended = conn.as_mut() => {
                if let Some(cause) = ended.err().and_then(|e| Cutoff::of(&e)) {
                    record_cutoff(&worker, peer, cause);
                }
                return;
            }
            _ = drain.drained() => break,
            _ = idle_check.as_mut() => {
                // Idle for a whole period: nothing open, nothing started or ended since the
                // last check. So the connection closes between one and two periods after its
                // last stream ended.
                if streams.open.get() == 0 && streams.changes.get() == seen {
                    break;
                }
                seen = streams.changes.get();
                idle_check.as_mut().reset(tokio::time::Instant::now() + keepalive);
            }
        }
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The streams of one connection: open now (from the request until its response body is
/// done or dropped), and how many times a stream started or ended.
#[derive(Default)]
struct Streams {
    open: Cell<usize>,
    changes: Cell<u64>,
}

/// One open stream, counted until dropped.
struct OpenStream(Rc<Streams>);

impl OpenStream {
    fn new(streams: Rc<Streams>) -> OpenStream {
        streams.open.set(streams.open.get() + 1);
        streams.changes.set(streams.changes.get() + 1);
        OpenStream(streams)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
        self.0.changes.set(self.0.changes.get() + 1);
    }
}

type Service = Rc<dyn Fn(http::Request<hyper::body::Incoming>) -> ServiceFuture>;
type ServiceFuture = Pin<Box<dyn Future<Output = Result<http::Response<StreamBody>, Infallible>>>>;

/// The request handler of one HTTP/2 client connection.
fn service_for(worker: &Rc<Worker>, conn: Conn, streams: Rc<Streams>, non_ascii: NonAsciiTargets) -> Service {
    let worker = worker.clone();
    let conn = Rc::new(conn);
    Rc::new(move |req| {
        let worker = worker.clone();
        let conn = conn.clone();
        let open = OpenStream::new(streams.clone());
        let head = req.method() == http::Method::HEAD;
        let mut req = req.map(IncomingBody::Http2);
        // `:path` as a client typed it: bytes past ASCII as HTTP/1's head parser takes them.
        if let Some(escaped) = crate::percent::ascii_uri(req.uri()) {
            match non_ascii {
                NonAsciiTargets::Refuse => {
                    let (parts, _) = req.into_parts();
                    let style = Style::of(&parts.headers);
                    let client = head_client(&worker, conn.peer, &parts);
                    let answer = refusal(&worker, client, Reason::BadRequest, style, NON_ASCII_TARGET, |id| {
                        head_fields(client, conn.peer, &parts, id)
                    });
                    return respond(answer, head, open);
                }
                NonAsciiTargets::Escape => *req.uri_mut() = escaped,
            }
        }
        // Boxed: hyper moves the future into its dispatcher, and ours is large.
        Box::pin(async move {
            // hyper's HTTP/2 server has no way to send an interim response.
            let resp = handle(&worker, &conn, req, None).await;
            Ok::<_, Infallible>(resp.map(|body| StreamBody { body, head, failed: None, _open: open }))
        })
    })
}

/// A connection cut off for `cause`: counted, written to the error log (as nginx logs a
/// client's HTTP/2 abuse at `info`, so that an operator sees who; ten lines a second at
/// most, the rest counted in the next line: `CutoffLines`), and the front chain told (ban
/// rules strike `client` for it).
pub(crate) fn record_cutoff(worker: &Worker, client: IpAddr, cause: Cutoff) {
    static LINES: CutoffLines = CutoffLines::new();
    worker.metrics.h2_cutoffs.count(cause);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match LINES.take(now) {
        Some(0) => tracing::info!(client = %client, cause = cause.name(), "HTTP/2 connection cut off"),
        Some(left_out) => tracing::info!(client = %client, cause = cause.name(), left_out,
            "HTTP/2 connection cut off (and others not logged one by one since the last such line)"),
        None => {}
    }
    // No access-log line is written for a connection: what the filters noted has nowhere
    // to go.
    let _ = tell_front_chain(worker, client, None, Some(cause.trigger()));
}

/// A response made without the pipeline (a refusal), as the service's future.
fn respond(resp: http::Response<ProxyBody>, head: bool, open: OpenStream) -> ServiceFuture {
    let resp = resp.map(|body| StreamBody { body, head, failed: None, _open: open });
    Box::pin(std::future::ready(Ok::<_, Infallible>(resp)))
}

/// A response body that keeps its stream counted as open.
struct StreamBody {
    body: ProxyBody,
    /// The answer to a HEAD: its head alone goes out, whatever body the answer has (the
    /// proxy's own answers carry their text; its `Content-Length` stays, as for HTTP/1).
    /// hyper's HTTP/2 server sends what the body yields, and a DATA frame on a HEAD's
    /// stream is a protocol error to the client.
    head: bool,
    /// The body's error, held back for one turn of the worker (below).
    failed: Option<<ProxyBody as Body>::Error>,
    _open: OpenStream,
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = <ProxyBody as Body>::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.head {
            return Poll::Ready(None);
        }
        if let Some(e) = this.failed.take() {
            return Poll::Ready(Some(Err(e)));
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            // The body broke off (the upstream died, or framed it wrongly). The error resets
            // the stream, and h2 then drops whatever of it is still queued, the HEADERS
            // among them when the body failed at once. Held back for one turn, so that the
            // connection's task (woken by those frames, ahead of this one) writes them
            // first: the client gets the status and the body so far, then the reset, as
            // an HTTP/1 client gets them before the close.
            Poll::Ready(Some(Err(e))) => {
                this.failed = Some(e);
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.head {
            true => SizeHint::with_exact(0),
            false => self.body.size_hint(),
        }
    }
}
