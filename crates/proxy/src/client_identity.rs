//! Who the client is, as the upstream learns it: `X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host`, `X-Real-IP` and `Forwarded` (RFC 7239), replaced when an untrusted
//! client sent its own, appended to for a `trusted_proxies` peer. Made once per connection
//! (and kept per worker for clients that reconnect), so a request copies shared values.
use crate::cidr::TrustedProxies;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Who the client is, as the forwarding headers say it; built once per connection so that
/// requests copy shared values instead of formatting addresses.
pub struct ClientIdentity {
    trusted: bool,
    addr: IpAddr,
    ip: HeaderValue,
    /// `for=1.2.3.4` or `for="[::1]"` (RFC 7239 quoting).
    forwarded_for: String,
    proto: &'static str,
    /// The last `Forwarded` value made, by host: a connection usually asks for one host.
    last_forwarded: std::cell::RefCell<Option<(String, HeaderValue)>>,
    /// The last rendered block of all five headers, by host (see [`Self::rendered`]).
    last_rendered: std::cell::RefCell<Option<(HeaderValue, Bytes)>>,
}

impl ClientIdentity {
    pub fn new(client: SocketAddr, trusted: bool, proto: &'static str) -> ClientIdentity {
        let ip = client.ip();
        let text = ip.to_string();
        let forwarded_for = match ip {
            IpAddr::V4(_) => format!("for={text}"),
            IpAddr::V6(_) => format!("for=\"[{text}]\""),
        };
        ClientIdentity {
            trusted,
            addr: ip,
            ip: HeaderValue::from_str(&text).expect("an IP address is a valid header value"),
            forwarded_for,
            proto,
            last_forwarded: Default::default(),
            last_rendered: Default::default(),
        }
    }

    /// Whether the client is a trusted proxy (its forwarding headers are appended to).
    pub fn trusted(&self) -> bool {
        self.trusted
    }

    /// The five forwarding headers as HTTP/1 header lines, for a request whose client sent
    /// none of them (nothing to replace). Rendered once per connection and host: the
    /// common request then costs no header-map insertion for them.
    pub fn rendered(&self, host: &HeaderValue) -> Bytes {
        if let Some((h, block)) = self.last_rendered.borrow().as_ref() {
            if h == host {
                return block.clone();
            }
        }
        let mut map = HeaderMap::with_capacity(5);
        set_forwarded(&mut map, self, host, self.addr);
        let mut block = Vec::with_capacity(200);
        for (name, value) in &map {
            block.extend_from_slice(name.as_str().as_bytes());
            block.extend_from_slice(b": ");
            block.extend_from_slice(value.as_bytes());
            block.extend_from_slice(b"\r\n");
        }
        let block = Bytes::from(block);
        *self.last_rendered.borrow_mut() = Some((host.clone(), block.clone()));
        block
    }

    fn forwarded(&self, host: &str) -> HeaderValue {
        let mut last = self.last_forwarded.borrow_mut();
        if let Some((h, v)) = last.as_ref() {
            if h == host {
                return v.clone();
            }
        }
        let mut element = format!("{};proto={}", self.forwarded_for, self.proto);
        if !host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic() && b != b'"') {
            element.push_str(";host=\"");
            element.push_str(host);
            element.push('"');
        }
        let value = HeaderValue::from_str(&element).expect("checked above");
        *last = Some((host.to_string(), value.clone()));
        value
    }
}

/// Whether the client sent any of the forwarding headers (which then must be replaced, or
/// appended to, in the header map). One pass over the names, no hashing.
pub fn carries_forwarding(headers: &HeaderMap) -> bool {
    headers.keys().any(|n| {
        let n = n.as_str();
        (n.starts_with("x-") || n == "forwarded")
            && (n == X_FORWARDED_FOR
                || n == X_REAL_IP
                || n == X_FORWARDED_PROTO
                || n == X_FORWARDED_HOST
                || n == "forwarded")
    })
}

/// A worker's recent client identities, so that a client opening connection after
/// connection (no keep-alive) does not have its address formatted anew each time.
#[derive(Default)]
pub struct IdentityCache(RefCell<std::collections::HashMap<(IpAddr, bool, bool), Rc<ClientIdentity>>>);

impl IdentityCache {
    /// Bounded: when full it starts over, which costs one formatting per client.
    const MAX: usize = 4096;

    /// The identity of a client at `ip`, over TLS or not.
    pub fn get(&self, ip: IpAddr, trusted: bool, tls: bool) -> Rc<ClientIdentity> {
        let mut map = self.0.borrow_mut();
        if let Some(who) = map.get(&(ip, trusted, tls)) {
            return who.clone();
        }
        if map.len() >= Self::MAX {
            map.clear();
        }
        let proto = if tls { "https" } else { "http" };
        let who = Rc::new(ClientIdentity::new(SocketAddr::new(ip, 0), trusted, proto));
        map.insert((ip, trusted, tls), who.clone());
        who
    }
}

/// Sets the forwarding headers. From an untrusted peer, whatever the client sent is
/// replaced; from a trusted proxy, `X-Forwarded-For` and `Forwarded` are appended to and
/// the other headers are kept as that proxy set them (`X-Real-IP`, when it set none, is
/// the client it names: `real_ip`, which for an untrusted peer is the peer).
pub fn set_forwarded(headers: &mut HeaderMap, who: &ClientIdentity, host: &HeaderValue, real_ip: IpAddr) {
    // Each header looked up once (an entry), not looked up and then inserted: behind a
    // balancer every request comes this way.
    let trusted = who.trusted;
    append_or_replace(headers, &X_FORWARDED_FOR, who.ip.clone(), trusted);
    append_or_replace(headers, &header::FORWARDED, who.forwarded(host.to_str().unwrap_or("")), trusted);
    keep_or_set(headers, &X_REAL_IP, trusted, || match trusted {
        true => ip_value(real_ip),
        false => who.ip.clone(),
    });
    keep_or_set(headers, &X_FORWARDED_PROTO, trusted, || HeaderValue::from_static(who.proto));
    keep_or_set(headers, &X_FORWARDED_HOST, trusted, || host.clone());
}

fn append_or_replace(headers: &mut HeaderMap, name: &HeaderName, value: HeaderValue, trusted: bool) {
    match headers.entry(name) {
        header::Entry::Occupied(mut sent) if trusted => {
            let mut combined: Vec<u8> = Vec::with_capacity(64);
            for v in sent.iter() {
                combined.extend_from_slice(v.as_bytes());
                combined.extend_from_slice(b", ");
            }
            combined.extend_from_slice(value.as_bytes());
            // Every value the proxy sent, then ours, as one (the others removed).
            sent.insert(HeaderValue::from_bytes(&combined).unwrap_or(value));
        }
        header::Entry::Occupied(mut sent) => drop(sent.insert(value)),
        header::Entry::Vacant(none) => drop(none.insert(value)),
    }
}

fn keep_or_set(headers: &mut HeaderMap, name: &HeaderName, trusted: bool, value: impl FnOnce() -> HeaderValue) {
    match headers.entry(name) {
        header::Entry::Occupied(_) if trusted => {}
        header::Entry::Occupied(mut sent) => drop(sent.insert(value())),
        header::Entry::Vacant(none) => drop(none.insert(value())),
    }
}

/// An address as a header value, an IPv4 one written digit by digit: through the
/// formatting machinery it cost several hundred instructions a request.
fn ip_value(ip: IpAddr) -> HeaderValue {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string()).expect("an address is a valid header value");
    };
    let mut text = [0u8; 15];
    let mut n = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[n] = b'.';
            n += 1;
        }
        for (at_least, digit) in [(100, octet / 100), (10, octet / 10 % 10), (0, octet % 10)] {
            if octet >= at_least {
                text[n] = b'0' + digit;
                n += 1;
            }
        }
    }
    HeaderValue::from_bytes(&text[..n]).expect("digits and dots")
}

/// A connection's identity, made at its first forwarded request.
pub type IdentitySlot = RefCell<Option<Rc<ClientIdentity>>>;

/// The forwarding identity of a connection from `peer` under the given trusted-proxy
/// list: kept in the connection's `slot`, taken from the worker's cache the first time
/// (and again if a reload changed whether the peer is trusted).
pub fn identity_of(
    slot: &IdentitySlot,
    peer: IpAddr,
    tls: bool,
    cache: &IdentityCache,
    trusted: &TrustedProxies,
) -> Rc<ClientIdentity> {
    let is_trusted = trusted.contains(peer);
    let mut slot = slot.borrow_mut();
    match slot.as_ref() {
        Some(who) if who.trusted() == is_trusted => who.clone(),
        _ => {
            let who = cache.get(peer, is_trusted, tls);
            *slot = Some(who.clone());
            who
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn forwarded_headers_replace_or_append() {
        let client: SocketAddr = "10.0.0.9:5555".parse().unwrap();
        let untrusted = ClientIdentity::new(client, false, "http");
        let mut h = map(&[("x-forwarded-for", "1.2.3.4"), ("x-real-ip", "1.2.3.4"), ("x-forwarded-proto", "https")]);
        set_forwarded(&mut h, &untrusted, &HeaderValue::from_static("example.com"), client.ip());
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.9");
        assert_eq!(h.get("x-real-ip").unwrap(), "10.0.0.9");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
        assert_eq!(h.get("forwarded").unwrap(), "for=10.0.0.9;proto=http;host=\"example.com\"");

        let mut h =
            map(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-proto", "https"), ("forwarded", "for=1.2.3.4")]);
        let real: IpAddr = "1.2.3.4".parse().unwrap();
        set_forwarded(
            &mut h,
            &ClientIdentity::new(client, true, "http"),
            &HeaderValue::from_static("example.com"),
            real,
        );
        assert_eq!(h.get("x-real-ip").unwrap(), "1.2.3.4", "the client the trusted proxy names");
        assert_eq!(h.get("x-forwarded-for").unwrap(), "1.2.3.4, 10.0.0.9");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
        assert!(h.get("forwarded").unwrap().to_str().unwrap().starts_with("for=1.2.3.4, for=10.0.0.9"));

        let block = untrusted.rendered(&HeaderValue::from_static("example.com"));
        assert_eq!(
            std::str::from_utf8(&block).unwrap(),
            "x-forwarded-for: 10.0.0.9\r\nforwarded: for=10.0.0.9;proto=http;host=\"example.com\"\r\n\
             x-real-ip: 10.0.0.9\r\nx-forwarded-proto: http\r\nx-forwarded-host: example.com\r\n"
        );
        assert!(carries_forwarding(&map(&[("x-real-ip", "1")])) && !carries_forwarding(&map(&[("x-other", "1")])));
        // From a trusted peer that sent none of them (its client is then the peer itself),
        // the block holds what the header map would.
        let trusted = ClientIdentity::new(client, true, "http");
        let mut h = HeaderMap::new();
        set_forwarded(&mut h, &trusted, &HeaderValue::from_static("example.com"), client.ip());
        let lines: String = h.iter().map(|(k, v)| format!("{k}: {}\r\n", v.to_str().unwrap())).collect();
        assert_eq!(trusted.rendered(&HeaderValue::from_static("example.com")), lines.as_bytes());

        // Several lines of one header: appended to as one value, or kept, or replaced whole.
        let sent = [("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "5.6.7.8"), ("x-real-ip", "7.7.7.7")];
        let (mut h, mut replaced) = (map(&sent), map(&sent));
        let host = HeaderValue::from_static("a");
        set_forwarded(&mut h, &ClientIdentity::new(client, true, "http"), &host, real);
        assert_eq!(h.get_all("x-forwarded-for").iter().collect::<Vec<_>>(), ["1.2.3.4, 5.6.7.8, 10.0.0.9"]);
        assert_eq!(h.get_all("x-real-ip").iter().collect::<Vec<_>>(), ["7.7.7.7"]);
        set_forwarded(&mut replaced, &untrusted, &host, client.ip());
        assert_eq!(replaced.get_all("x-forwarded-for").iter().collect::<Vec<_>>(), ["10.0.0.9"]);
        assert_eq!(replaced.get_all("x-real-ip").iter().collect::<Vec<_>>(), ["10.0.0.9"]);

        for ip in ["0.0.0.0", "255.255.255.255", "10.0.0.9", "1.20.100.7", "192.168.10.250", "2001:db8::1"] {
            assert_eq!(ip_value(ip.parse().unwrap()), ip);
        }

        let v6 = ClientIdentity::new("[2001:db8::1]:1".parse().unwrap(), false, "http");
        let mut h = HeaderMap::new();
        set_forwarded(&mut h, &v6, &HeaderValue::from_static("a"), "2001:db8::1".parse().unwrap());
        assert_eq!(h.get("forwarded").unwrap(), "for=\"[2001:db8::1]\";proto=http;host=\"a\"");
        assert_eq!(h.get("x-forwarded-for").unwrap(), "2001:db8::1");
    }
}
