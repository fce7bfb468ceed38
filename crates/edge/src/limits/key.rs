//! What a limit counts by: parts of the request joined with `+` (`"ip"`,
//! `"header:X-Api-Key"`, `"cookie:session"`, `"query:api_key"`, `"host"`, `"path"`,
//! `"route"`, `"ip+path"`), hashed with a per-process secret (so that no one can aim keys
//! at one shard). A request that lacks a header, cookie or query parameter its key names
//! is not counted by that limit, as nginx skips an empty key. IPv6 clients are grouped by
//! their first `ipv6_prefix` bits, since one host holds a whole /64.
use crate::address_key::address_key;
use crate::cookie::cookie;
use forecourt_proxy::normal_path::normalized;
use forecourt_proxy::router::request_host;
use http::header::HeaderName;
use http::request;
use std::borrow::Cow;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::net::IpAddr;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyPart {
    Ip,
    Header(HeaderName),
    Cookie(String),
    /// A query parameter's value, as sent (nginx's `$arg_NAME`).
    Query(String),
    /// The host the request is addressed to, without port, in lower case (nginx's `$host`).
    Host,
    Path,
    Route,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub parts: Vec<KeyPart>,
    /// Bits of an IPv6 address that name a client (default 64).
    pub ipv6_prefix: u8,
}

impl KeySpec {
    /// Parses `"ip+header:X-Api-Key"`; the error names the part that is wrong.
    pub fn parse(text: &str, ipv6_prefix: u8) -> Result<KeySpec, String> {
        let mut parts = Vec::new();
        for part in text.split('+').map(str::trim) {
            parts.push(match part.split_once(':') {
                None if part == "ip" => KeyPart::Ip,
                None if part == "path" => KeyPart::Path,
                None if part == "route" => KeyPart::Route,
                None if part == "host" => KeyPart::Host,
                Some(("header", name)) => KeyPart::Header(
                    HeaderName::from_bytes(name.trim().as_bytes())
                        .map_err(|_| format!("`{name}` is not a header name"))?,
                ),
                Some(("cookie", name)) if !name.trim().is_empty() => KeyPart::Cookie(name.trim().to_owned()),
                Some(("query", name)) if !name.trim().is_empty() => KeyPart::Query(name.trim().to_owned()),
                _ => {
                    return Err(format!(
                        "unknown key part `{part}`: use ip, header:NAME, cookie:NAME, query:NAME, host, path or route, joined with +"
                    ))
                }
            });
        }
        Ok(KeySpec { parts, ipv6_prefix })
    }

    /// The request's key under this spec, or `None` when a part it names is missing.
    pub fn key(&self, secret: &RandomState, head: &request::Parts, client: IpAddr, route: &str) -> Option<u64> {
        let mut h = secret.build_hasher();
        self.feed(&mut h, head, client, route)?;
        Some(h.finish())
    }

    /// The same key for every instance (a shared store's): the SHA-256 of its parts, in hex
    /// (an unkeyed hash an outsider could aim at another client's key would not do).
    pub fn shared_key(&self, head: &request::Parts, client: IpAddr, route: &str) -> Option<String> {
        let mut h = Sha256(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256));
        self.feed(&mut h, head, client, route)?;
        let digest = h.0.finish();
        Some(digest.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    fn feed(&self, h: &mut impl Hasher, head: &request::Parts, client: IpAddr, route: &str) -> Option<()> {
        for part in &self.parts {
            match part {
                KeyPart::Ip => address_key(client, self.ipv6_prefix).hash(h),
                KeyPart::Header(name) => head.headers.get(name)?.as_bytes().hash(h),
                KeyPart::Cookie(name) => cookie(head, name)?.hash(h),
                KeyPart::Query(name) => query_value(&head.uri, name)?.hash(h),
                // As routes match it: one site whatever its spelling's case or port.
                KeyPart::Host => {
                    let host = request_host(&head.uri, &head.headers);
                    match host.bytes().any(|b| b.is_ascii_uppercase()) {
                        true => host.to_ascii_lowercase().hash(h),
                        false => host.hash(h),
                    }
                }
                // As routes read it, so that `/a/./b` and `//a/b` count as `/a/b`.
                KeyPart::Path => normalized(head.uri.path()).unwrap_or(Cow::Borrowed(head.uri.path())).hash(h),
                KeyPart::Route => route.hash(h),
            }
        }
        Some(())
    }
}

/// The value of the query parameter `name` (its first), as sent.
fn query_value<'a>(uri: &'a http::Uri, name: &str) -> Option<&'a str> {
    uri.query()?.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// SHA-256 as a `Hasher`, so that a shared key is fed as the local one is.
struct Sha256(aws_lc_rs::digest::Context);

impl Hasher for Sha256 {
    fn finish(&self) -> u64 {
        0 // never asked: the digest is read whole
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::get("/p?q=1");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn keys_from_parts_of_the_request() {
        let s = RandomState::new();
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let by_ip = KeySpec::parse("ip", 64).unwrap();
        let h = head(&[]);
        assert_ne!(by_ip.key(&s, &h, ip("10.0.0.1"), "r"), by_ip.key(&s, &h, ip("10.0.0.2"), "r"));
        assert_eq!(
            by_ip.key(&s, &h, ip("2001:db8::1"), "r"),
            by_ip.key(&s, &h, ip("2001:db8::ffff:1"), "r"),
            "one /64 is one client"
        );
        let by_key = KeySpec::parse("header:X-Api-Key+cookie:s", 64).unwrap();
        assert_eq!(by_key.key(&s, &head(&[("x-api-key", "k")]), ip("10.0.0.1"), "r"), None, "no cookie: not counted");
        let both = head(&[("x-api-key", "k"), ("cookie", "a=1; s=2")]);
        assert!(by_key.key(&s, &both, ip("10.0.0.1"), "r").is_some());
        let a = by_key.shared_key(&both, ip("10.0.0.1"), "r").unwrap();
        assert_eq!(a.len(), 32);
        assert_eq!(Some(a), by_key.shared_key(&both, ip("10.0.0.1"), "r"), "the same everywhere");
        assert_ne!(by_ip.shared_key(&h, ip("10.0.0.1"), "r"), by_ip.shared_key(&h, ip("10.0.0.2"), "r"));
        let by_query = KeySpec::parse("query:q", 64).unwrap();
        let with = |target: &str| http::Request::get(target).body(()).unwrap().into_parts().0;
        let at = |target: &str| by_query.key(&s, &with(target), ip("10.0.0.1"), "r");
        assert_eq!(at("/p?q=1"), at("/other?a=2&q=1"), "one value, whatever the path and other parameters");
        assert_ne!(at("/p?q=1"), at("/p?q=2"));
        assert_eq!(at("/p?qq=1"), None, "no such parameter: not counted");
        assert_eq!(at("/p"), None);
        let by_host = KeySpec::parse("host", 64).unwrap();
        let to = |host: &str| {
            let h = http::Request::get("/").header("host", host).body(()).unwrap().into_parts().0;
            by_host.key(&s, &h, ip("10.0.0.1"), "r")
        };
        assert_eq!(to("Example.com:8080"), to("example.com"), "one site whatever its case or port");
        assert_ne!(to("a.example"), to("b.example"));
        let absolute = http::Request::get("http://EXAMPLE.com/").body(()).unwrap().into_parts().0;
        assert_eq!(by_host.key(&s, &absolute, ip("10.0.0.1"), "r"), to("example.com"), "HTTP/2's authority");
        for bad in ["ip+", "addr", "header:", "cookie:", "query:", "hosts", "header:bad name"] {
            assert!(KeySpec::parse(bad, 64).is_err(), "{bad}");
        }
    }
}
