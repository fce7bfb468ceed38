//! Body types: the client's request body on its way upstream (with its limit and read
//! timeout), and every response body on its way to the client.
use crate::exchange::Exchange;
use crate::h1::H1Body;
use bytes::Bytes;
use forecourt_upstream::PooledBody;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::error::Error as StdError;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Why the client's body could not be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBodyError {
    TooLarge,
    Timeout,
    /// Malformed (bad chunked framing) or cut short by the client.
    Invalid,
}

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientBodyError::TooLarge => "request body larger than allowed",
            ClientBodyError::Timeout => "request body read timed out",
            ClientBodyError::Invalid => "request body malformed or incomplete",
        })
    }
}

impl StdError for ClientBodyError {}

/// A request body as the server read it: from our HTTP/1 server or from hyper's HTTP/2,
/// or read in full already and kept, to be sent again on a retry.
pub enum IncomingBody {
    Http1(H1Body),
    Http2(Incoming),
    Kept(Option<Bytes>),
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            IncomingBody::Http1(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            IncomingBody::Http2(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            IncomingBody::Kept(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            IncomingBody::Http1(b) => b.is_end_stream(),
            IncomingBody::Http2(b) => b.is_end_stream(),
            IncomingBody::Kept(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            IncomingBody::Http1(b) => b.size_hint(),
            IncomingBody::Http2(b) => b.size_hint(),
            IncomingBody::Kept(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// The request body as it streams to the upstream.
pub struct ClientBody {
    inner: IncomingBody,
    limit: Option<u64>,
    seen: u64,
    timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl ClientBody {
    pub fn new(inner: IncomingBody, limit: Option<u64>, timeout: Duration) -> Self {
        ClientBody { inner, limit, seen: 0, timeout, timer: None }
    }

    /// A body read in full before, sent again.
    pub fn kept(bytes: Bytes) -> Self {
        ClientBody::new(IncomingBody::Kept(Some(bytes)), None, Duration::MAX)
    }

    /// Reads the whole body (within its limit and read timeout), to keep it.
    pub async fn read_all(self) -> Result<Bytes, BoxError> {
        use http_body_util::BodyExt;
        Ok(self.collect().await?.to_bytes())
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len() as u64;
                    if this.limit.is_some_and(|max| this.seen > max) {
                        return Poll::Ready(Some(Err(ClientBodyError::TooLarge.into())));
                    }
                }
                this.timer = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let timeout = this.timeout;
                let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(ClientBodyError::Timeout.into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

use std::future::Future;

enum Source {
    Upstream(PooledBody<ClientBody>),
    Full(Option<Bytes>),
}

/// Every response body Forecourt sends. When it ends (or the client goes away) it closes
/// the request's [`Exchange`]: access log line, metrics, keep-alive bookkeeping.
pub struct ProxyBody {
    source: Source,
    exchange: Option<Exchange>,
}

impl ProxyBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ProxyBody { source: Source::Full(Some(bytes.into())), exchange: None }
    }

    pub fn empty() -> Self {
        ProxyBody { source: Source::Full(None), exchange: None }
    }

    pub fn upstream(body: PooledBody<ClientBody>) -> Self {
        ProxyBody { source: Source::Upstream(body), exchange: None }
    }

    /// Attaches the exchange that this body closes. If the body is already complete (no
    /// bytes to send), hyper may never poll it; it is closed when dropped.
    pub fn attach(&mut self, exchange: Exchange) {
        self.exchange = Some(exchange);
    }

    fn finish(&mut self, complete: bool) {
        if let Some(ex) = self.exchange.take() {
            ex.finish(complete);
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        let complete = self.is_end_stream();
        self.finish(complete);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = match &mut this.source {
            Source::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Source::Upstream(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(ex), Some(data)) = (&mut this.exchange, frame.data_ref()) {
                    ex.sent(data.len());
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Full(b) => b.is_none(),
            Source::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Source::Full(None) => SizeHint::with_exact(0),
            Source::Upstream(b) => b.size_hint(),
        }
    }
}
