//! Percent-encoding (RFC 3986 §2.1) of the bytes a caller picks, with no allocation per
//! byte: a URL as typed, in the form a browser sends it (the request target, `h1/head.rs`
//! and `h2.rs`; a purge's URL, the admin API), and gRPC's `grpc-message` (`answers/`).
use http::uri::{PathAndQuery, Uri};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A URL or target as typed, escaped as a browser escapes it before it sends it: bytes
/// past ASCII, and the visible ASCII a URI may not hold (`"`, `<`, `>`, `` ` ``) and space.
/// One rule for every place a typed URL meets the targets requests arrive with.
pub fn as_browsers_send(typed: &[u8]) -> String {
    encode(typed, |b| matches!(b, b' ' | b'"' | b'<' | b'>' | b'`'))
}

/// `uri` with the bytes of its path and query past ASCII percent-encoded, or `None` when
/// it has none. The `http` crate keeps UTF-8 in a path as it came (HTTP/2's `:path` as a
/// client typed it); escaped, as HTTP/1's target is, one resource has one target.
pub fn ascii_uri(uri: &Uri) -> Option<Uri> {
    let target = uri.path_and_query()?.as_str();
    if target.is_ascii() {
        return None;
    }
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(as_browsers_send(target.as_bytes())).ok()?);
    Uri::from_parts(parts).ok()
}

/// `bytes` with every byte `escape` picks, and every byte past ASCII, written as `%XX`.
pub fn encode(bytes: &[u8], escape: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(bytes.len() + 16);
    for &b in bytes {
        if b.is_ascii() && !escape(b) {
            out.push(char::from(b));
        } else {
            out.extend(['%', char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 0xF)])]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_bytes_and_bytes_past_ascii_are_escaped() {
        assert_eq!(encode(b"a<b>\"c\"", |b| matches!(b, b'<' | b'>' | b'"')), "a%3Cb%3E%22c%22");
        assert_eq!(encode("é%".as_bytes(), |b| b == b'%'), "%C3%A9%25");
        assert_eq!(encode(b"plain", |_| false), "plain");
    }

    #[test]
    fn a_uri_keeps_its_parts_and_loses_only_what_is_past_ascii() {
        let uri: Uri = "https://a.example:8443/wiki/東京?q=über&r=1".parse().unwrap();
        let escaped = ascii_uri(&uri).unwrap();
        assert_eq!(escaped.to_string(), "https://a.example:8443/wiki/%E6%9D%B1%E4%BA%AC?q=%C3%BCber&r=1");
        assert_eq!(escaped.query(), Some("q=%C3%BCber&r=1"));
        assert!(ascii_uri(&"/plain?q=1".parse().unwrap()).is_none());
    }
}
