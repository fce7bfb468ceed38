//! Answers made from a stored response: its head with `Age`, the client's conditional
//! request answered 304 (RFC 9110 §13), `HEAD` without the body, and a single byte range
//! as a 206 (RFC 9110 §14).
use crate::freshness::http_date;
use crate::stored::Stored;
use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT_RANGES, AGE, CONTENT_LENGTH, CONTENT_RANGE, DATE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_RANGE, LAST_MODIFIED, RANGE,
};
use http::{request, HeaderMap, Method, Response, StatusCode};

/// The answer to `req` from `stored` at `now`: status, headers and body.
pub fn answer(stored: &Stored, req: &request::Parts, now: u64) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.headers_mut() = stored.headers.clone();
    resp.headers_mut().insert(AGE, HeaderValue::from(stored.age(now)));
    if stored.status == StatusCode::OK && not_modified(&stored.headers, &req.headers) {
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        // RFC 9110 §15.4.5: the 304 carries the validators and caching fields, no body.
        for name in [CONTENT_LENGTH, http::header::CONTENT_TYPE, http::header::CONTENT_ENCODING, ACCEPT_RANGES] {
            resp.headers_mut().remove(name);
        }
        return resp;
    }
    *resp.status_mut() = stored.status;
    let len = stored.body.len() as u64;
    let mut body = stored.body.clone();
    if stored.status == StatusCode::OK {
        resp.headers_mut().insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        match range(&req.headers, &stored.headers, len) {
            Range::Whole => {}
            Range::Part(start, end) => {
                *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
                let value = format!("bytes {start}-{end}/{len}");
                resp.headers_mut().insert(CONTENT_RANGE, HeaderValue::from_str(&value).expect("ascii"));
                body = body.slice(start as usize..=end as usize);
            }
            Range::Unsatisfiable => {
                *resp.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
                let value = format!("bytes */{len}");
                resp.headers_mut().insert(CONTENT_RANGE, HeaderValue::from_str(&value).expect("ascii"));
                body = Bytes::new();
            }
        }
    }
    resp.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    if req.method != Method::HEAD {
        *resp.body_mut() = body;
    }
    resp
}

/// Whether the client's validators match (If-None-Match, weak comparison; else
/// If-Modified-Since against Last-Modified, or the response's Date where it has no
/// Last-Modified, as RFC 9111 §4.3.2 has a cache do).
pub fn not_modified(stored: &HeaderMap, req: &HeaderMap) -> bool {
    // Compared as bytes: an entity tag may hold obs-text (RFC 9110 §8.8.3), which is not
    // a `str`.
    if let Some(inm) = req.get(IF_NONE_MATCH) {
        let Some(etag) = stored.get(ETAG) else { return false };
        let etag = opaque(etag.as_bytes());
        return inm.as_bytes().split(|&b| b == b',').map(|t| t.trim_ascii()).any(|t| t == b"*" || opaque(t) == etag);
    }
    // Most hits carry no If-Modified-Since: nothing stored is parsed for them.
    let Some(since) = http_date(req, IF_MODIFIED_SINCE) else { return false };
    http_date(stored, LAST_MODIFIED).or_else(|| http_date(stored, DATE)).is_some_and(|modified| modified <= since)
}

/// An entity tag without its weakness mark (weak comparison, RFC 9110 §8.8.3.2).
fn opaque(tag: &[u8]) -> &[u8] {
    let tag = tag.trim_ascii();
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

pub(crate) enum Range {
    Whole,
    /// First and last byte, inclusive.
    Part(u64, u64),
    Unsatisfiable,
}

/// The one range a request asks for, if it asks for exactly one and `If-Range` (if any)
/// matches; several ranges get the whole (multipart is not made).
pub(crate) fn range(req: &HeaderMap, stored: &HeaderMap, len: u64) -> Range {
    let Some(spec) = req.get(RANGE).and_then(|v| v.to_str().ok()) else { return Range::Whole };
    if let Some(if_range) = req.get(IF_RANGE).and_then(|v| v.to_str().ok()) {
        let strong_match = stored
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|e| !e.starts_with("W/") && e == if_range.trim());
        let date_match = httpdate::parse_http_date(if_range).is_ok()
            && stored.get(LAST_MODIFIED).and_then(|v| v.to_str().ok()).is_some_and(|m| m.trim() == if_range.trim());
        if !strong_match && !date_match {
            return Range::Whole;
        }
    }
    let Some(set) = spec.trim().strip_prefix("bytes=") else { return Range::Whole };
    if set.contains(',') {
        return Range::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else { return Range::Whole };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    let (start, end) = match (first.trim().is_empty(), parse(first), parse(last)) {
        (true, _, Some(suffix)) if suffix > 0 => (len.saturating_sub(suffix), len.saturating_sub(1)),
        (true, _, _) => return Range::Unsatisfiable,
        (false, Some(start), None) if last.trim().is_empty() => (start, len.saturating_sub(1)),
        (false, Some(start), Some(end)) if start <= end => (start, end.min(len.saturating_sub(1))),
        _ => return Range::Whole,
    };
    if len == 0 || start >= len {
        return Range::Unsatisfiable;
    }
    Range::Part(start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::Timing;

    fn stored(headers: &[(&str, &str)], body: &'static [u8]) -> Stored {
        Stored {
            headers: headers.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect(),
            body: Bytes::from_static(body),
            timing: Timing { request_time: 100, response_time: 100, initial_age: 2 },
            lifetime: 60,
            ..Default::default()
        }
    }

    fn req(method: &str, headers: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::builder().method(method).uri("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn conditionals_head_and_ranges() {
        let s = stored(&[("etag", "\"v1\""), ("last-modified", "Sun, 06 Nov 1994 08:49:37 GMT")], b"0123456789");
        let r = answer(&s, &req("GET", &[]), 110);
        assert_eq!((r.status(), r.headers()["age"].to_str().unwrap(), r.body().len()), (StatusCode::OK, "12", 10));
        assert_eq!(answer(&s, &req("GET", &[("if-none-match", "W/\"v1\", \"x\"")]), 110).status(), 304);
        assert_eq!(answer(&s, &req("GET", &[("if-none-match", "\"v2\"")]), 110).status(), 200);
        let ims = [("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")];
        assert_eq!(answer(&s, &req("GET", &ims), 110).status(), 304);
        let head = answer(&s, &req("HEAD", &[]), 110);
        assert_eq!((head.body().len(), head.headers()["content-length"].to_str().unwrap()), (0, "10"));
        let part = answer(&s, &req("GET", &[("range", "bytes=2-4")]), 110);
        assert_eq!((part.status(), &part.body()[..]), (StatusCode::PARTIAL_CONTENT, &b"234"[..]));
        assert_eq!(part.headers()["content-range"], "bytes 2-4/10");
        assert_eq!(&answer(&s, &req("GET", &[("range", "bytes=-3")]), 110).body()[..], b"789");
        assert_eq!(&answer(&s, &req("GET", &[("range", "bytes=7-")]), 110).body()[..], b"789");
        assert_eq!(answer(&s, &req("GET", &[("range", "bytes=20-")]), 110).status(), 416);
        assert_eq!(answer(&s, &req("GET", &[("range", "bytes=0-1,3-4")]), 110).status(), 200);
        let stale_if_range = [("range", "bytes=0-1"), ("if-range", "\"v0\"")];
        assert_eq!(answer(&s, &req("GET", &stale_if_range), 110).status(), 200);
    }

    #[test]
    fn entity_tags_with_obs_text_match() {
        let tag = http::HeaderValue::from_bytes("\"abcdef\u{fc}\"".as_bytes()).unwrap();
        let mut stored_headers = HeaderMap::new();
        stored_headers.insert(ETAG, tag.clone());
        let mut req = HeaderMap::new();
        req.insert(IF_NONE_MATCH, tag);
        assert!(not_modified(&stored_headers, &req));
        req.insert(IF_NONE_MATCH, http::HeaderValue::from_static("\"abcdef\""));
        assert!(!not_modified(&stored_headers, &req));
    }

    #[test]
    fn if_modified_since_falls_back_to_the_date_without_last_modified() {
        let mut stored_headers = HeaderMap::new();
        stored_headers.insert(DATE, http::HeaderValue::from_static("Fri, 04 Dec 2026 12:00:00 GMT"));
        let mut req = HeaderMap::new();
        req.insert(IF_MODIFIED_SINCE, http::HeaderValue::from_static("Fri, 04 Dec 2026 12:00:00 GMT"));
        assert!(not_modified(&stored_headers, &req), "made no later than the client's copy");
        req.insert(IF_MODIFIED_SINCE, http::HeaderValue::from_static("Fri, 04 Dec 2026 11:00:00 GMT"));
        assert!(!not_modified(&stored_headers, &req), "made after it");
        stored_headers.insert(LAST_MODIFIED, http::HeaderValue::from_static("Fri, 04 Dec 2026 10:00:00 GMT"));
        assert!(not_modified(&stored_headers, &req), "Last-Modified decides where there is one");
    }
}
