//! The request body, read once, before the upstream phase, for everything that needs it:
//! filters that inspect bodies (the first bytes of any body, `BodyNeed::Inspect`), and
//! keeping a body whole so that each try (and a mirror) can send it (`BodyNeed::Keep`, and
//! the route's `retry_buffer` when the request may be retried). Nothing is read when
//! nothing needs it: the body then streams to the upstream as the client sends it.
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
    let whole = body.size_hint().exact().is_some_and(|n| n <= wanted.inspect.max(wanted.keep));
    if whole {
        let bytes = body.collect().await?.to_bytes();
        let read = (wanted.inspect > 0).then(|| Read { bytes: bytes.clone(), complete: true });
        return Ok((RequestBody::Kept(bytes), read));
    }
    if wanted.inspect == 0 {
        return Ok((RequestBody::Streaming(body), None));
    }
    let (body, bytes, complete) = read_up_to(body, wanted.inspect).await?;
    let read = Read { bytes: bytes.clone(), complete };
    match complete {
        true => Ok((RequestBody::Kept(bytes), Some(read))),
        false => Ok((RequestBody::Streaming(body.after(bytes)), Some(read))),
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
        let (got, seen) = read(body(b"hello"), Wanted { inspect: 0, keep: 4 }).await.unwrap();
        assert!(matches!(got, RequestBody::Streaming(_)) && seen.is_none(), "longer than it keeps");
        assert_eq!(rest(got).await, "hello");
    }

    #[tokio::test]
    async fn a_body_within_the_bound_is_kept_whole() {
        let (got, seen) = read(body(b"hello"), Wanted { inspect: 0, keep: 5 }).await.unwrap();
        assert!(seen.is_none());
        assert!(matches!(&got, RequestBody::Kept(b) if b == "hello"));
        let (got, seen) = read(body(b"hello"), Wanted { inspect: 16, keep: 0 }).await.unwrap();
        assert!(matches!(&got, RequestBody::Kept(b) if b == "hello"));
        let seen = seen.unwrap();
        assert!(seen.complete && seen.bytes == "hello");
    }

    #[tokio::test]
    async fn a_longer_body_is_inspected_in_part_and_streams_on_whole() {
        let (got, seen) =
            read(pieces(&[b"he", b"llo", b" wor", b"ld"]), Wanted { inspect: 4, keep: 64 }).await.unwrap();
        let seen = seen.unwrap();
        assert!(!seen.complete && seen.bytes == "hello", "{:?}", seen.bytes);
        assert!(matches!(got, RequestBody::Streaming(_)), "of unknown length: not kept");
        assert_eq!(rest(got).await, "hello world", "what was read goes first");
        let (got, seen) = read(pieces(&[b"he", b"y"]), Wanted { inspect: 4, keep: 0 }).await.unwrap();
        assert!(seen.unwrap().complete && matches!(&got, RequestBody::Kept(b) if b == "hey"), "ended within");
    }
}
