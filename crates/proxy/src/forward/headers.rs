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

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name == header::PROXY_AUTHORIZATION
}

/// Removes hop-by-hop headers and every header `Connection` names. With `upgrade`, the
/// `Upgrade` header and `Connection: upgrade` are kept so that the next hop can switch too.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none: one pass over the few names present instead of a removal
    // (a hash lookup) per hop-by-hop name.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if let Some(conn) = headers.get(header::CONNECTION) {
        if let Ok(s) = conn.to_str() {
            let named: Vec<HeaderName> = s
                .split(',')
                .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
                .filter(|n| *n != header::HOST && *n != header::CONTENT_LENGTH && !(upgrade && *n == header::UPGRADE))
                .filter(|n| !is_hop_by_hop(n))
                .collect();
            for name in named {
                headers.remove(&name);
            }
        }
    }
    // Only the ones present are removed: a removal is a hash lookup.
    let present: Vec<HeaderName> =
        headers.keys().filter(|n| is_hop_by_hop(n) && !(upgrade && *n == header::UPGRADE)).cloned().collect();
    for name in &present {
        headers.remove(name);
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
    headers.contains_key(header::UPGRADE)
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
