//! Stored parts (RFC 9111 §3.3, §3.4): a 206 to a range that went upstream as it was (a
//! suffix range, `bytes=-500`, or a range of an object the cache does not keep whole) is
//! stored beside its key, and a later range that lies within it is answered from it —
//! what a player asking for the end of a file again, or a download manager resuming,
//! asks. One part per key, the latest; the whole object, when stored, is looked up first.
use crate::respond::{self, Range};
use crate::stored::Stored;
use bytes::Bytes;
use http::header::{HeaderValue, AGE, CONTENT_LENGTH, CONTENT_RANGE};
use http::{request, HeaderMap, Response, StatusCode};

/// The key a part of `key`'s object is stored under: a line after the key, as the key's
/// own header and cookie parts are (`key.rs`), which no URL and no field value holds.
pub fn key(key: &str) -> String {
    format!("{key}{SUFFIX}")
}

const SUFFIX: &str = "\npart";

/// Whether `key` is more than `url` and `url`'s part key: a route's `key` with headers or
/// cookies made it. A URL's other keys are known from the URL alone.
pub fn more_than_url(key: &str, url: &str) -> bool {
    key.len() > url.len() && key[url.len()..] != *SUFFIX
}

/// The bytes a part holds: `first..=last` of an object `complete` bytes long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub first: u64,
    pub last: u64,
    pub complete: u64,
}

/// The span a 206's `Content-Range` gives (`bytes FIRST-LAST/COMPLETE`); `None` for a
/// multipart 206, an unknown complete length (`/*`) or a range that does not add up, and
/// when its `Content-Length` disagrees with it: none of those is stored.
pub fn span(headers: &HeaderMap) -> Option<Span> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    let (range, complete) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let span = Span { first: number(first)?, last: number(last)?, complete: number(complete)? };
    if span.first > span.last || span.last >= span.complete {
        return None;
    }
    let length = headers.get(CONTENT_LENGTH).map(|v| v.to_str().ok().and_then(number));
    match length {
        Some(Some(len)) if len != span.last - span.first + 1 => None,
        Some(None) => None,
        _ => Some(span),
    }
}

/// The answer to `req`'s range from the stored part, when the range lies within it: a 206
/// with that range's bytes and `Age`. `None` when it does not (the request goes upstream).
pub fn answer(stored: &Stored, req: &request::Parts, now: u64) -> Option<Response<Bytes>> {
    let span = span(&stored.headers)?;
    if stored.status != StatusCode::PARTIAL_CONTENT || stored.body.len() as u64 != span.last - span.first + 1 {
        return None;
    }
    // The range as the whole object's: `If-Range` against the part's validators, a suffix
    // counted from the complete length.
    let Range::Part(start, end) = respond::range(&req.headers, &stored.headers, span.complete) else { return None };
    if start < span.first || end > span.last {
        return None;
    }
    let body = stored.body.slice((start - span.first) as usize..=(end - span.first) as usize);
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
    *resp.headers_mut() = stored.headers.clone();
    let headers = resp.headers_mut();
    headers.insert(AGE, HeaderValue::from(stored.age(now)));
    let content_range = format!("bytes {start}-{end}/{}", span.complete);
    headers.insert(CONTENT_RANGE, HeaderValue::from_str(&content_range).expect("ascii"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(end + 1 - start));
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directives::Directives;
    use crate::freshness::Timing;

    fn headers(fields: &[(&str, &str)]) -> HeaderMap {
        fields.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
    }

    fn part(content_range: &str, body: &'static str) -> Stored {
        Stored {
            status: StatusCode::PARTIAL_CONTENT,
            headers: headers(&[("content-range", content_range), ("etag", "\"v1\"")]),
            body: Bytes::from_static(body.as_bytes()),
            body_file: None,
            timing: Timing { request_time: 100, response_time: 100, initial_age: 0 },
            lifetime: 3600,
            directives: Directives::default(),
            vary: Vec::new(),
            vary_key: Vec::new(),
            tags: Vec::new(),
            private_fields: false,
            hits: Default::default(),
        }
    }

    fn ask(range: &str, extra: &[(&str, &str)]) -> request::Parts {
        let mut req = http::Request::get("/f").header("range", range).body(()).unwrap().into_parts().0;
        req.headers.extend(headers(extra));
        req
    }

    fn body_of(resp: &Response<Bytes>) -> (&str, &str) {
        (resp.headers()["content-range"].to_str().unwrap(), std::str::from_utf8(resp.body()).unwrap())
    }

    #[test]
    fn a_span_is_read_from_content_range_and_must_agree_with_content_length() {
        assert_eq!(
            span(&headers(&[("content-range", "bytes 4-9/10")])),
            Some(Span { first: 4, last: 9, complete: 10 })
        );
        assert!(span(&headers(&[("content-range", "bytes 4-9/10"), ("content-length", "6")])).is_some());
        for bad in ["bytes 4-9/*", "bytes */10", "bytes 9-4/10", "bytes 4-10/10", "items 4-9/10", "bytes 4-9"] {
            assert_eq!(span(&headers(&[("content-range", bad)])), None, "{bad}");
        }
        assert_eq!(span(&headers(&[("content-range", "bytes 4-9/10"), ("content-length", "5")])), None);
    }

    #[test]
    fn a_range_within_the_part_is_cut_from_it() {
        let stored = part("bytes 4-9/10", "456789");
        for (range, want) in [
            ("bytes=-5", ("bytes 5-9/10", "56789")),
            ("bytes=6-8", ("bytes 6-8/10", "678")),
            ("bytes=6-", ("bytes 6-9/10", "6789")),
            ("bytes=-1", ("bytes 9-9/10", "9")),
            ("bytes=4-9", ("bytes 4-9/10", "456789")),
        ] {
            let resp = answer(&stored, &ask(range, &[]), 100).unwrap_or_else(|| panic!("{range}"));
            assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
            assert_eq!(body_of(&resp), want, "{range}");
            assert_eq!(resp.headers()["content-length"], want.1.len().to_string().as_str());
        }
    }

    #[test]
    fn a_range_the_part_does_not_hold_goes_upstream() {
        let stored = part("bytes 4-9/10", "456789");
        for range in ["bytes=0-4", "bytes=3-5", "bytes=-7", "bytes=0-", "bytes=2-3,6-7", "bytes=20-30"] {
            assert!(answer(&stored, &ask(range, &[]), 100).is_none(), "{range}");
        }
        // An If-Range the part's validator does not match asks for the whole.
        assert!(answer(&stored, &ask("bytes=6-8", &[("if-range", "\"v2\"")]), 100).is_none());
        assert!(answer(&stored, &ask("bytes=6-8", &[("if-range", "\"v1\"")]), 100).is_some());
        // A part whose body is not the length its range says is never served.
        assert!(answer(&part("bytes 4-9/10", "4567"), &ask("bytes=6-8", &[]), 100).is_none());
    }
}
