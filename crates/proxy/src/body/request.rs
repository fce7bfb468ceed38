//! The request body: as a server read it ([`IncomingBody`]), and as it streams to the
//! upstream ([`ClientBody`]: with the route's size limit and the client's read timeout,
//! and whatever the pipeline read ahead of it).
use super::{BoxError, ClientBodyError};
use crate::settings::MinRate;
use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::time::Sleep;

/// A body read from a client connection as it is pulled (the HTTP/1 server's: the
/// connection's read buffer and socket). Shared with the connection, which goes on with
/// the next request once the body is done: hence `&self`.
pub trait BodySource {
    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>>;
    fn is_end_stream(&self) -> bool;
    fn size_hint(&self) -> SizeHint;
}

/// The length a request head declares for its body (`Content-Length`), when it gives one
/// that parses: what filters weigh before any of the body is read.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
}

/// A request body as the server read it: pulled from an HTTP/1 connection, from hyper's
/// HTTP/2, or read in full already and kept (to be sent again on a retry, or made here).
pub enum IncomingBody {
    /// An `Rc` of the connection itself: no allocation per request.
    Stream(Rc<dyn BodySource>),
    Http2(Incoming),
    Kept(Option<Bytes>),
}

impl IncomingBody {
    pub fn empty() -> IncomingBody {
        IncomingBody::Kept(None)
    }

    pub fn full(bytes: impl Into<Bytes>) -> IncomingBody {
        let bytes = bytes.into();
        IncomingBody::Kept((!bytes.is_empty()).then_some(bytes))
    }
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            IncomingBody::Stream(b) => b.poll_frame(cx).map_err(Into::into),
            IncomingBody::Http2(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            IncomingBody::Kept(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            IncomingBody::Stream(b) => b.is_end_stream(),
            IncomingBody::Http2(b) => b.is_end_stream(),
            IncomingBody::Kept(b) => b.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            IncomingBody::Stream(b) => b.size_hint(),
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
    /// The slowest the body may come (`min_body_rate`), and when it began to be read.
    min_rate: Option<(MinRate, Instant)>,
    timer: Option<Pin<Box<Sleep>>>,
    /// Bytes read already (by the pipeline, for filters to inspect), sent first.
    ahead: Option<Bytes>,
}

impl ClientBody {
    pub fn new(inner: IncomingBody, limit: Option<u64>, timeout: Duration) -> Self {
        ClientBody { inner, limit, seen: 0, timeout, min_rate: None, timer: None, ahead: None }
    }

    /// The body must come at `rate` on average, after its grace time, or it is cut off
    /// as timed out (counted from now).
    pub fn min_rate(mut self, rate: Option<MinRate>) -> Self {
        self.min_rate = rate.map(|r| (r, Instant::now()));
        self
    }

    /// A body read in full before, sent again.
    pub fn kept(bytes: Bytes) -> Self {
        ClientBody::new(IncomingBody::Kept(Some(bytes)), None, Duration::MAX)
    }

    /// The rest of this body, after `read` (taken from it already), which goes first.
    pub fn after(mut self, read: Bytes) -> Self {
        self.ahead = (!read.is_empty()).then_some(read);
        self
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(read) = this.ahead.take() {
            return Poll::Ready(Some(Ok(Frame::data(read))));
        }
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
                // Nothing more for `timeout`, or not enough for the minimum rate: whichever
                // comes first.
                let (timeout, seen, min_rate) = (this.timeout, this.seen, this.min_rate);
                let timer = this.timer.get_or_insert_with(|| {
                    let mut at = Instant::now().checked_add(timeout).unwrap_or_else(far_future);
                    if let Some((rate, start)) = min_rate {
                        at = at.min(rate.deadline(start, seen));
                    }
                    Box::pin(tokio::time::sleep_until(at.into()))
                });
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(ClientBodyError::Timeout.into()))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ahead.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let ahead = self.ahead.as_ref().map_or(0, |b| b.len() as u64);
        let inner = self.inner.size_hint();
        match inner.exact() {
            Some(n) => SizeHint::with_exact(n + ahead),
            None => {
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower() + ahead);
                hint
            }
        }
    }
}

/// A deadline that never comes in practice (for bodies without a timeout).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(365 * 86_400)
}

/// A request body as the pipeline hands it to the forwarder: not read (the common case:
/// the forwarder streams it, within the route's limit and the client's timeout), partly
/// read (bytes inspected go first, the rest streams), or read whole and kept, so that
/// every try can send it.
pub enum RequestBody {
    Unread(IncomingBody),
    Streaming(ClientBody),
    Kept(Bytes),
}

impl RequestBody {
    /// Whether there is no body at all.
    pub fn is_empty(&self) -> bool {
        match self {
            RequestBody::Unread(body) => body.is_end_stream(),
            RequestBody::Streaming(body) => body.is_end_stream(),
            RequestBody::Kept(bytes) => bytes.is_empty(),
        }
    }
}
