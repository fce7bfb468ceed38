//! The request body, read once, before the upstream phase, for everything that needs it:
//! filters that inspect bodies (the first bytes of any body, `BodyNeed::Inspect`), and
//! keeping a body whole so that each try (and a mirror) can send it (`BodyNeed::Keep`, and
//! the route's `retry_buffer` when the request may be retried), and the route's
//! `request_buffer`: the first bytes of any body read before an upstream is asked, so that
//! a slow upload holds only a connection to the proxy, not one to the origin. Nothing is
//! read when nothing needs it: the body then streams to the upstream as the client sends it.
use crate::body::{BoxError, ClientBody, RequestBody};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

/// How much of a body this request's chain and action want read before it goes on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The first this many bytes of any body, for inspection.
    pub inspect: u64,
    /// A body of a known length within this many bytes, read whole and kept.
    pub keep: u64,
    /// The first this many bytes of any body, read before it goes on (`request_buffer`):
    /// a body that ends within is kept whole, a longer one streams on after them.
    pub buffer: u64,
}

/// What was read, for the filters that inspect it.
pub struct Read {
    pub bytes: Bytes,
    /// The whole body is in `bytes`.
    pub complete: bool,
}

impl Read {
    /// What inspecting filters see of a request without a body.
    pub fn empty() -> Read {
        Read { bytes: Bytes::new(), complete: true }
    }
}

/// Whether anything of `body` is to be read before it goes on (asked first, so that the
/// common request, which needs nothing read, makes no call to `read`).
pub fn needed(body: &impl Body, wanted: Wanted) -> bool {
    wanted != Wanted::default() && !body.is_end_stream()
}

/// Reads `body` as `wanted` says: the body to forward, and what was read for inspection
/// (`None` when nobody inspects). Fails as the body does (too large, too slow, malformed).
pub async fn read(body: ClientBody, wanted: Wanted) -> Result<(RequestBody, Option<Read>), BoxError> {
    if !needed(&body, wanted) {
        return Ok((RequestBody::Streaming(body), None));
    }
    let up_to = wanted.inspect.max(wanted.buffer);
    let whole = body.size_hint().exact().is_some_and(|n| n <= up_to.max(wanted.keep));
    if whole {
        let bytes = body.collect().await?.to_bytes();
        let read = (wanted.inspect > 0).then(|| Read { bytes: bytes.clone(), complete: true });
        return Ok((RequestBody::Kept(bytes), read));
    }
    if up_to == 0 {
        return Ok((RequestBody::Streaming(body), None));
    }
    let (body, bytes, complete) = read_up_to(body, up_to).await?;
    let read = (wanted.inspect > 0).then(|| Read { bytes: bytes.clone(), complete });
    // Kept only within the bound, however the bytes happened to arrive: whether a body is
    // kept (and so may be sent again) must not depend on how many reads brought it.
    match complete && bytes.len() as u64 <= up_to.max(wanted.keep) {
        true => Ok((RequestBody::Kept(bytes), read)),
        false => Ok((RequestBody::Streaming(body.after(bytes)), read)),
    }
}

/// Reads until at least `n` bytes or the end of the body: the body (to go on from), what
/// was read, and whether that is all of it. Trailers are not kept.
async fn read_up_to(mut body: ClientBody, n: u64) -> Result<(ClientBody, Bytes, bool), BoxError> {
    let mut pieces: Vec<Bytes> = Vec::new();
    let mut total = 0u64;
    let complete = loop {
        if total >= n {
            break body.is_end_stream();
        }
        match body.frame().await {
            None => break true,
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    total += data.len() as u64;
                    pieces.push(data);
                }
            }
        }
    };
    let bytes = match pieces.len() {
        0 => Bytes::new(),
        1 => pieces.pop().unwrap_or_default(),
        _ => {
            let mut joined = BytesMut::with_capacity(total as usize);
            pieces.iter().for_each(|p| joined.extend_from_slice(p));
            joined.freeze()
        }
    };
    Ok((body, bytes, complete))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{BodySource, ClientBodyError, IncomingBody};
    use hyper::body::{Frame, SizeHint};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    fn body(bytes: &'static [u8]) -> ClientBody {
        ClientBody::new(IncomingBody::full(bytes), None, Duration::from_secs(1))
    }

    /// A body of unknown length that arrives in pieces (as a chunked upload does).
    struct Pieces(RefCell<Vec<&'static [u8]>>);

    impl BodySource for Pieces {
        fn poll_frame(&self, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, ClientBodyError>>> {
            let mut left = self.0.borrow_mut();
            Poll::Ready((!left.is_empty()).then(|| Ok(Frame::data(Bytes::from_static(left.remove(0))))))
        }
        fn is_end_stream(&self) -> bool {
            self.0.borrow().is_empty()
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::default()
        }
    }

    fn pieces(list: &[&'static [u8]]) -> ClientBody {
        let source: Rc<dyn BodySource> = Rc::new(Pieces(RefCell::new(list.to_vec())));
        ClientBody::new(IncomingBody::Stream(source), None, Duration::from_secs(1))
    }

    async fn rest(body: RequestBody) -> Bytes {
        match body {
            RequestBody::Kept(b) => b,
            RequestBody::Streaming(b) => b.collect().await.unwrap().to_bytes(),
            RequestBody::Unread(b) => b.collect().await.unwrap().to_bytes(),
        }
    }

    #[tokio::test]
    async fn nothing_is_read_when_nothing_wants_it() {
        let (got, seen) = read(body(b"hello"), Wanted::default()).await.unwrap();
        assert!(matches!(got, RequestBody::Streaming(_)) && seen.is_none());
        let (got, seen) = read(body(b"hello"), Wanted { keep: 4, ..Wanted::default() }).await.unwrap();
        assert!(matches!(got, RequestBody::Streaming(_)) && seen.is_none(), "longer than it keeps");
        assert_eq!(rest(got).await, "hello");
    }

    #[tokio::test]
    async fn a_body_within_the_bound_is_kept_whole() {
        let (got, seen) = read(body(b"hello"), Wanted { keep: 5, ..Wanted::default() }).await.unwrap();
        assert!(seen.is_none());
        assert!(matches!(&got, RequestBody::Kept(b) if b == "hello"));
        let (got, seen) = read(body(b"hello"), Wanted { inspect: 16, ..Wanted::default() }).await.unwrap();
        assert!(matches!(&got, RequestBody::Kept(b) if b == "hello"));
        let seen = seen.unwrap();
        assert!(seen.complete && seen.bytes == "hello");
    }

    #[tokio::test]
    async fn a_longer_body_is_inspected_in_part_and_streams_on_whole() {
        let (got, seen) =
            read(pieces(&[b"he", b"llo", b" wor", b"ld"]), Wanted { inspect: 4, keep: 64, buffer: 0 }).await.unwrap();
        let seen = seen.unwrap();
        assert!(!seen.complete && seen.bytes == "hello", "{:?}", seen.bytes);
        assert!(matches!(got, RequestBody::Streaming(_)), "of unknown length: not kept");
        assert_eq!(rest(got).await, "hello world", "what was read goes first");
        let (got, seen) = read(pieces(&[b"he", b"y"]), Wanted { inspect: 4, ..Wanted::default() }).await.unwrap();
        assert!(seen.unwrap().complete && matches!(&got, RequestBody::Kept(b) if b == "hey"), "ended within");
    }

    #[tokio::test]
    async fn a_buffered_body_is_read_before_it_goes_on_and_nobody_is_shown_it() {
        let buffer = Wanted { buffer: 8, ..Wanted::default() };
        let (got, seen) = read(pieces(&[b"he", b"llo"]), buffer).await.unwrap();
        assert!(seen.is_none(), "buffering inspects nothing");
        assert!(matches!(&got, RequestBody::Kept(b) if b == "hello"), "of unknown length, ended within: kept");
        let (got, seen) = read(body(b"hello"), Wanted { buffer: 5, ..Wanted::default() }).await.unwrap();
        assert!(seen.is_none() && matches!(&got, RequestBody::Kept(b) if b == "hello"), "known length within");
        let (got, _) = read(pieces(&[b"hello ", b"wor", b"ld"]), buffer).await.unwrap();
        assert!(matches!(got, RequestBody::Streaming(_)), "longer: the first bytes, then it streams");
        assert_eq!(rest(got).await, "hello world");
        let (got, _) = read(body(b"hello world"), buffer).await.unwrap();
        assert!(matches!(got, RequestBody::Streaming(_)), "longer, though one read brought it all: not kept");
        assert_eq!(rest(got).await, "hello world");
    }
}
