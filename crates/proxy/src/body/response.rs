//! Every response body Forecourt sends: from the upstream, made here, or wrapped by a
//! filter (compression, a cache's tee). When it ends (or the client goes away) it closes
//! the request's [`Exchange`]: access log line, metrics, keep-alive bookkeeping.
use super::{BoxError, ClientBody};
use crate::exchange::Exchange;
use bytes::Bytes;
use forecourt_upstream::PooledBody;
use hyper::body::{Body, Frame, SizeHint};
use std::fs::File;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A body a filter put around another one.
type Wrapped = Pin<Box<dyn Body<Data = Bytes, Error = BoxError>>>;

enum Source {
    Upstream(PooledBody<ClientBody>),
    Full(Option<Bytes>),
    /// Bytes that are also a region of a file: a plain HTTP/1 connection sends them with
    /// `sendfile`, without copying them through user space (see [`ProxyBody::pages`]).
    Pages(Option<Bytes>, FileRegion),
    Wrapped(Wrapped),
}

/// `len` bytes of `file` from `offset`.
#[derive(Clone, Debug)]
pub struct FileRegion {
    pub file: Arc<File>,
    pub offset: u64,
    pub len: u64,
}

pub struct ProxyBody {
    source: Source,
    exchange: Option<Exchange>,
}

impl ProxyBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        ProxyBody { source: Source::Full((!bytes.is_empty()).then_some(bytes)), exchange: None }
    }

    /// `bytes`, which are also `region` (a cache's stored body kept in a memory file).
    /// Read as a body, it is `bytes`; a wrapping filter sees just those.
    pub fn pages(bytes: Bytes, region: FileRegion) -> Self {
        debug_assert_eq!(bytes.len() as u64, region.len);
        ProxyBody { source: Source::Pages((!bytes.is_empty()).then_some(bytes), region), exchange: None }
    }

    /// The file region this body is, if it is one and nothing of it was read yet; the body
    /// counts as sent (the caller sends the region).
    pub fn take_region(&mut self) -> Option<FileRegion> {
        let Source::Pages(bytes @ Some(_), region) = &mut self.source else { return None };
        let len = bytes.take().map_or(0, |b| b.len());
        if let Some(ex) = &mut self.exchange {
            ex.sent(len);
        }
        Some(region.clone())
    }

    pub fn empty() -> Self {
        ProxyBody { source: Source::Full(None), exchange: None }
    }

    pub fn upstream(body: PooledBody<ClientBody>) -> Self {
        ProxyBody { source: Source::Upstream(body), exchange: None }
    }

    /// Puts `wrap`'s body around this one, in place (what a filter's response-body phase
    /// does: one allocation; a filter that wraps nothing moves nothing). The wrapped body
    /// is a `ProxyBody` itself; the exchange stays with the outer one.
    pub fn wrap_with<B>(&mut self, wrap: impl FnOnce(ProxyBody) -> B)
    where
        B: Body<Data = Bytes> + 'static,
        B::Error: Into<BoxError>,
    {
        let inner = ProxyBody { source: std::mem::replace(&mut self.source, Source::Full(None)), exchange: None };
        let outer = http_body_util::BodyExt::map_err(wrap(inner), Into::into);
        self.source = Source::Wrapped(Box::pin(outer));
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
            Source::Full(bytes) | Source::Pages(bytes, _) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Source::Upstream(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Source::Wrapped(body) => body.as_mut().poll_frame(cx),
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
            Source::Full(b) | Source::Pages(b, _) => b.is_none(),
            Source::Upstream(b) => b.is_end_stream(),
            Source::Wrapped(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Full(Some(b)) | Source::Pages(Some(b), _) => SizeHint::with_exact(b.len() as u64),
            Source::Full(None) | Source::Pages(None, _) => SizeHint::with_exact(0),
            Source::Upstream(b) => b.size_hint(),
            Source::Wrapped(b) => b.size_hint(),
        }
    }
}
