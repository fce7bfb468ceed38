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
use super::part::Window;
use crate::respond::{self, Range};
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_RANGE, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use http::header::{IF_RANGE, IF_UNMODIFIED_SINCE, RANGE};
use http::{HeaderMap, Response, StatusCode};

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

/// Turns the head of a 200 for the whole into the answer to the client's range (206, or
/// 416 when it lies past the end); `None` (the 200 stays) when the whole's length is
/// not known before its body (a coded or chunked response).
pub fn part_of<B>(resp: &mut Response<B>, request: &HeaderMap) -> Option<Window> {
    if resp.status() != StatusCode::OK {
        return None;
    }
    let len = resp.headers().get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse::<u64>().ok()?;
    let (status, content_range, start, take) = match respond::range(request, resp.headers(), len) {
        Range::Whole => return None,
        Range::Part(start, end) => {
            (StatusCode::PARTIAL_CONTENT, format!("bytes {start}-{end}/{len}"), start, end + 1 - start)
        }
        Range::Unsatisfiable => (StatusCode::RANGE_NOT_SATISFIABLE, format!("bytes */{len}"), 0, 0),
    };
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_RANGE, HeaderValue::from_str(&content_range).expect("ascii"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(take));
    Some(Window::bytes(start, take))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(window, Some(Window::bytes(2, 3)));
        assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!((field(&resp, CONTENT_RANGE), field(&resp, CONTENT_LENGTH)), ("bytes 2-4/10".into(), "3".into()));
        let mut past = whole(10);
        assert_eq!(part_of(&mut past, &headers(&[("range", "bytes=10-")])), Some(Window::NONE));
        assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(field(&past, CONTENT_RANGE), "bytes */10");
        let mut unknown = Response::new(());
        assert_eq!(part_of(&mut unknown, &headers(&[("range", "bytes=2-4")])), None);
        assert_eq!(unknown.status(), StatusCode::OK);
    }
}
