//! Hop-by-hop headers never cross the proxy (RFC 9110 §7.6.1): neither those the standard
//! names nor those a message's `Connection` names. An upgrade keeps what it needs, and an
//! HTTP/2 upstream gets `te: trailers` (the one `TE` HTTP/2 allows, which gRPC requires).
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
];

/// The bit of `HOP_BY_HOP` (or, past its end, of `Proxy-Authorization` and of a header
/// named `Close`) that `name` has; 0 for every other name. Names compared as names: most
/// are standard ones, whose comparison is of one byte.
fn name_bit(name: &HeaderName) -> u16 {
    match HOP_BY_HOP.iter().position(|h| h == name) {
        Some(i) => 1 << i,
        None if name == header::PROXY_AUTHORIZATION => PROXY_AUTHORIZATION_BIT,
        None if name == CLOSE => CLOSE_BIT,
        None => 0,
    }
}

const CONNECTION_BIT: u16 = 1;
const UPGRADE_BIT: u16 = 1 << 5;
const PROXY_AUTHORIZATION_BIT: u16 = 1 << 8;
/// A header named `Close`, which RFC 9110 §7.6.1 reserves, as it is the option nearly every
/// `Connection` holds: only when one is there does that option cost a lookup.
const CLOSE: HeaderName = HeaderName::from_static("close");
const CLOSE_BIT: u16 = 1 << 9;

/// Whether a `Connection` option leaves its namesake header alone: the hop-by-hop names
/// (removed below anyway, `Upgrade` kept for an upgrade) and the two a request is framed
/// and routed by, which no option may take away.
fn spares_its_header(option: &str) -> bool {
    HOP_BY_HOP
        .iter()
        .chain([&header::PROXY_AUTHORIZATION, &header::HOST, &header::CONTENT_LENGTH])
        .any(|h| h.as_str().eq_ignore_ascii_case(option))
}

/// Removes hop-by-hop headers and every header `Connection` names. With `upgrade`, the
/// `Upgrade` header and `Connection: upgrade` are kept so that the next hop can switch too.
/// Runs on every request and response: one pass over the names present, and no allocation
/// or lookup for `Connection: close`, which every new connection of some clients carries.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let present = headers.keys().fold(0, |bits, name| bits | name_bit(name));
    if present & !CLOSE_BIT == 0 {
        return;
    }
    if present & CONNECTION_BIT != 0 {
        // Every `Connection` line counts (RFC 9110 §7.6.1), taken by shared clones so that
        // what they name can be removed meanwhile (a second line is rare: only then a Vec).
        let mut lines = headers.get_all(header::CONNECTION).iter();
        let first = lines.next().cloned();
        let others: Vec<HeaderValue> = lines.cloned().collect();
        for value in first.iter().chain(&others) {
            let Ok(options) = value.to_str() else { continue };
            for option in options.split(',').map(str::trim) {
                let absent = option.eq_ignore_ascii_case("close") && present & CLOSE_BIT == 0;
                if !option.is_empty() && !absent && !spares_its_header(option) {
                    // Looked up as text: no header name is made of it.
                    headers.remove(option);
                }
            }
        }
    }
    for (i, name) in HOP_BY_HOP.iter().chain([&header::PROXY_AUTHORIZATION]).enumerate() {
        let bit = 1 << i;
        if present & bit != 0 && !(upgrade && bit == UPGRADE_BIT) {
            headers.remove(name);
        }
    }
    if upgrade && headers.contains_key(header::UPGRADE) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether a request says it accepts trailers (`TE: trailers`). Its `TE` goes as every
/// hop-by-hop header does; an HTTP/2 upstream is told `te: trailers` again, the only `TE`
/// HTTP/2 allows (RFC 9113 §8.2.2), without which a gRPC server refuses the call.
pub fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers.get_all(header::TE).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',').any(|t| t.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("trailers"))
        })
    })
}

/// Whether the client asks to switch protocols (HTTP/1.1 `Upgrade` named in `Connection`)
/// in a way that is passed on. An offer of `h2c` never is: a backend that took it would
/// serve whatever requests came next through the tunnel, past every route and filter
/// ("h2c smuggling"). Such a request goes on as a plain one, its `Upgrade` removed.
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
    };
    // Asked of every request: a pass over the names (compared by tag), not a hashed lookup.
    headers.keys().any(|name| name == header::UPGRADE)
        && has_token(header::CONNECTION, "upgrade")
        && !has_token(header::UPGRADE, "h2c")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn hop_by_hop_and_named_headers_go() {
        let mut h = map(&[
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "5"),
            ("te", "trailers"),
            ("x-keep", "1"),
            ("proxy-authorization", "basic x"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn every_connection_line_names_headers_to_remove() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("connection", "close"),
            ("connection", " X-One ,,Host, content-length"),
            ("x-one", "1"),
            ("close", "a reserved name"),
            ("host", "example.com"),
            ("content-length", "0"),
            ("proxy-authorization", "basic x"),
            ("x-keep", "1"),
        ] {
            h.append(name, HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut h, false);
        let mut left: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-length", "host", "x-keep"]);
    }

    #[test]
    fn the_bits_name_the_headers_they_stand_for() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(name_bit(name), 1 << i, "{name}");
        }
        assert_eq!(name_bit(&header::CONNECTION), CONNECTION_BIT);
        assert_eq!(name_bit(&header::UPGRADE), UPGRADE_BIT);
        assert_eq!(name_bit(&header::PROXY_AUTHORIZATION), PROXY_AUTHORIZATION_BIT);
        assert_eq!(PROXY_AUTHORIZATION_BIT, 1 << HOP_BY_HOP.len(), "past HOP_BY_HOP's bits");
        assert_eq!(name_bit(&HeaderName::from_static("close")), CLOSE_BIT);
        assert_eq!(name_bit(&header::HOST), 0);
    }

    #[test]
    fn trailers_are_asked_for_by_te() {
        assert!(accepts_trailers(&map(&[("te", "trailers")])));
        assert!(accepts_trailers(&map(&[("te", "gzip, Trailers;q=1")])));
        assert!(!accepts_trailers(&map(&[("te", "gzip")])) && !accepts_trailers(&map(&[])));
    }

    #[test]
    fn upgrade_survives_when_asked() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");

        let mut h = map(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQAAP__"),
        ]);
        assert!(!wants_upgrade(&h), "h2c is not passed on");
        strip_hop_by_hop(&mut h, false);
        assert!(h.is_empty(), "{h:?}");
    }
}
