//! A miss asked with the client's own conditions still fills the cache. With the
//! validators of a copy it holds (`If-None-Match`, `If-Modified-Since`: a browser
//! revalidating after the cache lost the object) the request goes upstream as it is, the
//! origin judging them: its 304 goes to the client, and its 200 (the client's copy was
//! outdated, or the origin ignores validators) is stored — where such a miss used to go
//! through unstored every time. A range from the first byte (`bytes=0-`, a `<video>`'s
//! first request) is asked as the whole, which is stored and answers it as well. A HEAD is
//! asked as a GET for the same reason (`CacheState::head_as_get`), its client getting the
//! head alone. Other ranges are asked as the whole too, the client's part cut from it
//! (`range_fill.rs`); `If-Match` / `If-Unmodified-Since` (meant for the origin's state)
//! go through as they are, their answers not stored. A 200 whose
//! validators match the client's is answered 304 here (an origin that ignored them).
use crate::respond;
use http::header::{
    ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
};
use http::{HeaderMap, Response, StatusCode};

/// Whether a request's conditions let its answer fill the cache (a 200 to it is the
/// whole object).
pub fn fill_anyway(headers: &HeaderMap) -> bool {
    if headers.contains_key(IF_MATCH) || headers.contains_key(IF_UNMODIFIED_SINCE) {
        return false;
    }
    match headers.get(RANGE) {
        None => !headers.contains_key(IF_RANGE),
        Some(range) => from_the_first_byte(range.as_bytes()),
    }
}

/// `bytes=0-`: the whole representation, which a 200 answers as well as a 206 would.
fn from_the_first_byte(range: &[u8]) -> bool {
    let spec: Vec<u8> = range.iter().filter(|b| !b.is_ascii_whitespace()).map(u8::to_ascii_lowercase).collect();
    spec == b"bytes=0-"
}

/// Whether the request carries the validators of a copy the client holds.
pub fn has_validators(headers: &HeaderMap) -> bool {
    headers.contains_key(IF_NONE_MATCH) || headers.contains_key(IF_MODIFIED_SINCE)
}

/// The upstream request asks for the whole (its range was `bytes=0-`, if any).
pub fn widen_range(headers: &mut HeaderMap) {
    headers.remove(RANGE);
    headers.remove(IF_RANGE);
}

/// Turns a 200 whose validators match the client's into the 304 it asked for (RFC 9110
/// §15.4.5: its validators and caching fields, no content fields); `true` when it did,
/// and the body must then be kept from the client.
pub fn answer_not_modified<B>(resp: &mut Response<B>, client: &HeaderMap) -> bool {
    if resp.status() != StatusCode::OK || !respond::not_modified(resp.headers(), client) {
        return false;
    }
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    for name in [CONTENT_LENGTH, CONTENT_TYPE, CONTENT_ENCODING, ACCEPT_RANGES] {
        resp.headers_mut().remove(name);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), http::HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn validators_and_a_range_from_the_first_byte_fill_the_cache() {
        assert!(fill_anyway(&headers(&[("if-none-match", "\"v1\"")])));
        assert!(fill_anyway(&headers(&[("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT")])));
        assert!(fill_anyway(&headers(&[("range", "bytes=0-")])));
        assert!(fill_anyway(&headers(&[("range", "Bytes = 0 -"), ("if-range", "\"v1\"")])));
        assert!(!fill_anyway(&headers(&[("range", "bytes=100-199")])));
        assert!(!fill_anyway(&headers(&[("range", "bytes=0-99")])));
        assert!(!fill_anyway(&headers(&[("if-range", "\"v1\"")])));
        assert!(!fill_anyway(&headers(&[("if-match", "\"v1\"")])));
        assert!(!fill_anyway(&headers(&[("if-none-match", "\"v1\""), ("if-unmodified-since", "x")])));
    }

    #[test]
    fn a_matching_200_becomes_a_304_without_content_fields() {
        let mut resp = Response::new(());
        resp.headers_mut().insert("etag", http::HeaderValue::from_static("W/\"v1\""));
        resp.headers_mut().insert("content-length", http::HeaderValue::from_static("12"));
        resp.headers_mut().insert("cache-control", http::HeaderValue::from_static("max-age=60"));
        assert!(!answer_not_modified(&mut resp, &headers(&[("if-none-match", "\"v2\"")])));
        assert_eq!(resp.status(), 200);
        assert!(answer_not_modified(&mut resp, &headers(&[("if-none-match", "\"v2\", \"v1\"")])));
        assert_eq!(resp.status(), 304);
        assert!(resp.headers().get("content-length").is_none());
        assert_eq!(resp.headers()["cache-control"], "max-age=60");
        let mut not_ok = Response::new(());
        *not_ok.status_mut() = StatusCode::NOT_FOUND;
        not_ok.headers_mut().insert("etag", http::HeaderValue::from_static("\"v1\""));
        assert!(!answer_not_modified(&mut not_ok, &headers(&[("if-none-match", "\"v1\"")])));
    }
}
