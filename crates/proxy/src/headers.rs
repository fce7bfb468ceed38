//! Header rules every forwarded message follows: hop-by-hop headers never cross the proxy
//! (RFC 9110 §7.6.1), and the upstream learns who the client is through `X-Forwarded-*`,
//! `X-Real-IP` and `Forwarded` (RFC 7239).
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::net::{IpAddr, SocketAddr};

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

/// Removes hop-by-hop headers and every header `Connection` names. With `upgrade`, the
/// `Upgrade` header and `Connection: upgrade` are kept so that the next hop can switch too.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    if let Some(conn) = headers.get(header::CONNECTION) {
        if let Ok(s) = conn.to_str() {
            let named: Vec<HeaderName> = s
                .split(',')
                .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
                .filter(|n| *n != header::HOST && *n != header::CONTENT_LENGTH && !(upgrade && *n == header::UPGRADE))
                .collect();
            for name in named {
                headers.remove(&name);
            }
        }
    }
    let kept_upgrade = if upgrade { headers.remove(header::UPGRADE) } else { None };
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::PROXY_AUTHORIZATION);
    if let Some(u) = kept_upgrade {
        headers.insert(header::UPGRADE, u);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether the client asks to switch protocols (HTTP/1.1 `Upgrade` named in `Connection`).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade"))))
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Sets the forwarding headers. From an untrusted peer, whatever the client sent is
/// replaced; from a trusted proxy, `X-Forwarded-For` and `Forwarded` are appended to and
/// the other headers are kept as that proxy set them.
pub fn set_forwarded(headers: &mut HeaderMap, client: SocketAddr, trusted: bool, proto: &'static str, host: &str) {
    let ip = client.ip();
    let ip_text = ip.to_string();
    append_or_replace(headers, &X_FORWARDED_FOR, &ip_text, trusted);
    let node = match ip {
        IpAddr::V4(_) => ip_text.clone(),
        IpAddr::V6(_) => format!("\"[{ip_text}]\""),
    };
    let mut element = format!("for={node};proto={proto}");
    if !host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
        element.push_str(";host=\"");
        element.push_str(host);
        element.push('"');
    }
    append_or_replace(headers, &header::FORWARDED, &element, trusted);
    keep_or_set(headers, &X_REAL_IP, &ip_text, trusted);
    keep_or_set(headers, &X_FORWARDED_PROTO, proto, trusted);
    keep_or_set(headers, &X_FORWARDED_HOST, host, trusted);
}

fn append_or_replace(headers: &mut HeaderMap, name: &HeaderName, value: &str, trusted: bool) {
    let mut combined = String::new();
    if trusted {
        for v in headers.get_all(name) {
            if let Ok(s) = v.to_str() {
                combined.push_str(s);
                combined.push_str(", ");
            }
        }
    }
    combined.push_str(value);
    if let Ok(v) = HeaderValue::from_str(&combined) {
        headers.insert(name.clone(), v);
    }
}

fn keep_or_set(headers: &mut HeaderMap, name: &HeaderName, value: &str, trusted: bool) {
    if trusted && headers.contains_key(name) {
        return;
    }
    match HeaderValue::from_str(value) {
        Ok(v) => headers.insert(name.clone(), v),
        Err(_) => headers.remove(name),
    };
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
    fn upgrade_survives_when_asked() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
    }

    #[test]
    fn forwarded_headers_replace_or_append() {
        let client: SocketAddr = "10.0.0.9:5555".parse().unwrap();
        let mut h = map(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "1.2.3.4"), ("x-forwarded-proto", "https")]);
        set_forwarded(&mut h, client, false, "http", "example.com");
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.9");
        assert_eq!(h.get("x-real-ip").unwrap(), "10.0.0.9");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(h.get("forwarded").unwrap(), "for=10.0.0.9;proto=http;host=\"example.com\"");

        let mut h =
            map(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https"), ("forwarded", "for=1.2.3.4")]);
        set_forwarded(&mut h, client, true, "http", "example.com");
        assert_eq!(h.get("x-forwarded-for").unwrap(), "1.2.3.4, 10.0.0.9");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
        assert!(h.get("forwarded").unwrap().to_str().unwrap().starts_with("for=1.2.3.4, for=10.0.0.9"));
    }
}
