//! A range the cache cannot answer fills it: the request goes upstream for the whole
//! object (as nginx's `proxy_cache` and Varnish ask by default), the whole is stored, and
//! the client's part is cut from it as it streams — a 206 with the bytes it asked for,
//! the rest read on into the store after the client has its part. Where it used to go
//! upstream as it was and its answer was never stored, a player seeking in a video or a
//! download manager fetching in parts (`bytes=0-1048575`) now fills the cache on its first
//! request. A range from the first byte is the whole already (`client_conditions`).
//!
//! The cost is bounded: only a range that starts below `max_object` is widened (one
//! further in is in an object too large to store, and goes through as it is), so at most
//! `max_object` bytes before the client's part are fetched for nothing when the object
//! turns out too large or not storable; past the client's part, an object not stored is
//! read on only as far as a small body goes, and its next ranges go as they are for a
//! while (`range_passes.rs`). Suffix ranges (`bytes=-500`, whose part is
//! the end of an object of unknown size) and ranges with conditions go through as they are.
use super::client_conditions;
use crate::respond::{self, Range};
use bytes::Bytes;
use forecourt_proxy::body::{BoxError, ProxyBody};
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use http::header::{IF_RANGE, IF_UNMODIFIED_SINCE, RANGE};
use http::{HeaderMap, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Whether this request's range is asked upstream as the whole: one `bytes=FIRST-[LAST]`
/// range (not `bytes=0-`, the whole already) starting below `max_object`, without
/// conditions.
pub fn widens(headers: &HeaderMap, max_object: u64) -> bool {
    let conditions = [IF_MATCH, IF_UNMODIFIED_SINCE, IF_NONE_MATCH, IF_MODIFIED_SINCE, IF_RANGE];
    if conditions.iter().any(|name| headers.contains_key(name)) {
        return false;
    }
    let Some(spec) = headers.get(RANGE).and_then(|v| v.to_str().ok()) else { return false };
    let Some(set) = spec.trim().strip_prefix("bytes=") else { return false };
    let Some((first, last)) = set.split_once('-') else { return false };
    let (Ok(first), last) = (first.trim().parse::<u64>(), last.trim()) else { return false };
    let last_ok = last.is_empty() || last.parse::<u64>().is_ok_and(|last| last >= first);
    let whole = first == 0 && last.is_empty();
    !set.contains(',') && last_ok && !whole && first < max_object
}

/// The bytes of the whole that the client gets: those before `skip` are dropped, then
/// `take` go to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    skip: u64,
    take: u64,
}

/// Turns the head of a 200 for the whole into the answer to the client's range (206, or
/// 416 when it lies past the end); `None` (the 200 stays) when the whole's length is
/// not known before its body (a coded or chunked response).
pub fn part_of<B>(resp: &mut Response<B>, request: &HeaderMap) -> Option<Window> {
    if resp.status() != StatusCode::OK {
        return None;
    }
    let len = resp.headers().get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    let (status, content_range, window) = match respond::range(request, resp.headers(), len) {
        Range::Whole => return None,
        Range::Part(start, end) => (
            StatusCode::PARTIAL_CONTENT,
            format!("bytes {start}-{end}/{len}"),
            Window { skip: start, take: end + 1 - start },
        ),
        Range::Unsatisfiable => {
            (StatusCode::RANGE_NOT_SATISFIABLE, format!("bytes */{len}"), Window { skip: 0, take: 0 })
        }
    };
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_RANGE, HeaderValue::from_str(&content_range).expect("ascii"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(window.take));
    Some(window)
}

/// Gives the client only `window` of `body`; what follows is read on without it, up to
/// `read_on` bytes (everything, into the store, when the whole is being stored).
pub fn carve(body: &mut ProxyBody, window: Window, read_on: u64) {
    body.wrap_with(|whole| Part { whole: Some(whole), skip: window.skip, take: window.take, read_on });
}

struct Part {
    whole: Option<ProxyBody>,
    skip: u64,
    take: u64,
    read_on: u64,
}

impl Part {
    /// The client has its part: the rest of the whole is read on in a task of its own.
    fn done(&mut self) {
        if let Some(whole) = self.whole.take() {
            if !whole.is_end_stream() && tokio::task::try_id().is_some() {
                tokio::task::spawn_local(client_conditions::read_on(whole, self.read_on));
            }
        }
    }
}

impl Drop for Part {
    /// A writer that stops at `is_end_stream` never polls for the end: the rest is read
    /// on all the same.
    fn drop(&mut self) {
        self.done();
    }
}

impl Body for Part {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.take == 0 {
                this.done();
                return Poll::Ready(None);
            }
            let Some(whole) = this.whole.as_mut() else { return Poll::Ready(None) };
            let frame = match std::task::ready!(Pin::new(whole).poll_frame(cx)) {
                None => {
                    // The whole ended short of the part: the client sees its answer cut.
                    this.whole = None;
                    return Poll::Ready(Some(Err("the response ended before the range".into())));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(frame)) => frame,
            };
            let Ok(mut data) = frame.into_data() else { continue };
            let skipped = this.skip.min(data.len() as u64);
            this.skip -= skipped;
            let data = data.split_off(skipped as usize);
            let part = data.slice(..this.take.min(data.len() as u64) as usize);
            this.take -= part.len() as u64;
            if !part.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(part))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.take == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn which_ranges_are_asked_as_the_whole() {
        let max = 1 << 20;
        assert!(widens(&headers(&[("range", "bytes=100-199")]), max));
        assert!(widens(&headers(&[("range", "bytes=100-")]), max));
        assert!(widens(&headers(&[("range", "bytes=0-1048575")]), max), "a download manager's first part");
        assert!(!widens(&headers(&[("range", "bytes=0-")]), max), "the whole already");
        assert!(!widens(&headers(&[("range", "bytes=-100")]), max), "a suffix: the end of an unknown length");
        assert!(!widens(&headers(&[("range", "bytes=1048576-")]), max), "past what may be stored");
        assert!(!widens(&headers(&[("range", "bytes=100-199,300-399")]), max));
        assert!(!widens(&headers(&[("range", "bytes=200-100")]), max));
        assert!(!widens(&headers(&[("range", "bytes=100-"), ("if-range", "\"v1\"")]), max));
        assert!(!widens(&headers(&[("range", "bytes=100-"), ("if-none-match", "\"v1\"")]), max));
        assert!(!widens(&headers(&[]), max));
    }

    fn whole(len: usize) -> Response<()> {
        let mut resp = Response::new(());
        resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(len));
        resp
    }

    #[test]
    fn the_head_of_the_part() {
        let field = |resp: &Response<()>, name| resp.headers()[name].to_str().unwrap().to_string();
        let mut resp = whole(10);
        let window = part_of(&mut resp, &headers(&[("range", "bytes=2-4")]));
        assert_eq!(window, Some(Window { skip: 2, take: 3 }));
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!((field(&resp, CONTENT_RANGE), field(&resp, CONTENT_LENGTH)), ("bytes 2-4/10".into(), "3".into()));
        let mut past = whole(10);
        assert_eq!(part_of(&mut past, &headers(&[("range", "bytes=10-")])), Some(Window { skip: 0, take: 0 }));
        assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(field(&past, CONTENT_RANGE), "bytes */10");
        let mut unknown = Response::new(());
        assert_eq!(part_of(&mut unknown, &headers(&[("range", "bytes=2-4")])), None);
        assert_eq!(unknown.status(), StatusCode::OK);
    }

    /// A body that comes in the chunks it is given.
    struct Chunks(std::collections::VecDeque<&'static str>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes())))))
        }
    }

    async fn cut(chunks: &[&'static str], window: Window) -> Result<Bytes, BoxError> {
        let mut body = ProxyBody::empty();
        body.wrap_with(|_| Chunks(chunks.iter().copied().collect()));
        carve(&mut body, window, 0);
        Ok(body.collect().await?.to_bytes())
    }

    #[tokio::test]
    async fn the_part_is_cut_across_chunks() {
        let chunks = ["0123", "4567", "89"];
        assert_eq!(&cut(&chunks, Window { skip: 3, take: 4 }).await.unwrap()[..], b"3456");
        assert_eq!(&cut(&chunks, Window { skip: 8, take: 2 }).await.unwrap()[..], b"89");
        assert_eq!(&cut(&chunks, Window { skip: 0, take: 0 }).await.unwrap()[..], b"");
        assert!(cut(&chunks, Window { skip: 8, take: 3 }).await.is_err(), "a whole shorter than its length");
    }
}
