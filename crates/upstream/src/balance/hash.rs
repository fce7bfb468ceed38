//! Consistent hashing: `balance = "hash"` with a `key`, and `ip_hash`.
//!
//! Each server owns points on a ring of 64-bit hashes, in proportion to its weight; a key
//! goes to the owner of the first point at or after the key's hash. The points are hashes
//! of the server's label, so they do not depend on the order of the servers or on the
//! process: a key keeps its server across reloads, and adding one server to N moves only
//! the keys the newcomer takes (about 1/(N+1) of them).
use super::{Admit, PickInput};
use crate::stable_hash::stable_hash as hash;
use std::net::IpAddr;
use std::ops::Deref;

/// Ring points per unit of weight. A server's share of the ring varies by about
/// 1/sqrt(points) of itself: with 400, the newcomer among four takes 25% ± 1.3% of the
/// keys (with 100 it was ± 2.5%: over 30% in 6 of 300 random rings of four; with 400
/// the worst of 300 was 28.0%).
const POINTS_PER_WEIGHT: u64 = 400;
/// At most this many points per server, whatever its weight (weights up to 100 count).
const MAX_POINTS: u64 = 40_000;

/// Where the key of a request comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HashKey {
    /// The client's address.
    Ip,
    /// The first value of a request header.
    Header(http::HeaderName),
    /// A cookie's value.
    Cookie(String),
    /// The path and query.
    Uri,
    /// A query parameter's value (as sent, not decoded).
    Query(String),
}

impl HashKey {
    /// `"ip"`, `"uri"`, `"header:NAME"`, `"cookie:NAME"` or `"query:NAME"`.
    pub fn parse(text: &str) -> Result<HashKey, String> {
        let (source, name) = match text.split_once(':') {
            Some((source, name)) => (source, Some(name.trim())),
            None => (text, None),
        };
        match (source, name) {
            ("ip", None) => Ok(HashKey::Ip),
            ("uri", None) => Ok(HashKey::Uri),
            ("header", Some(name)) => http::HeaderName::from_bytes(name.as_bytes())
                .map(HashKey::Header)
                .map_err(|_| format!("`{name}` is not a header name")),
            ("cookie", Some(name)) if !name.is_empty() => Ok(HashKey::Cookie(name.to_string())),
            ("query", Some(name)) if !name.is_empty() => Ok(HashKey::Query(name.to_string())),
            _ => Err(format!("`{text}` is not a key source")),
        }
    }

    /// The key of this request, if it has one.
    pub fn of<'a>(&self, input: &'a PickInput<'_>) -> Option<KeyBytes<'a>> {
        match self {
            HashKey::Ip => Some(KeyBytes::address(input.client)),
            HashKey::Header(name) => input.headers.get(name).map(|v| KeyBytes::Borrowed(v.as_bytes())),
            HashKey::Cookie(name) => cookie(input.headers, name).map(KeyBytes::Borrowed),
            HashKey::Uri => Some(KeyBytes::Borrowed(input.uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes())),
            HashKey::Query(name) => input.uri.query()?.split('&').find_map(|pair| {
                let value = pair.strip_prefix(name.as_str())?.strip_prefix('=')?;
                Some(KeyBytes::Borrowed(value.as_bytes()))
            }),
        }
    }
}

/// The value of the cookie `name` in a request's `Cookie` headers, if it has one.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .find_map(|pair| pair.trim_ascii().strip_prefix(name.as_bytes())?.strip_prefix(b"="))
}

/// A request's key: a slice of the request, or a client address held inline, so that no
/// key costs an allocation.
pub enum KeyBytes<'a> {
    Borrowed(&'a [u8]),
    Address([u8; 16], usize),
}

impl KeyBytes<'_> {
    fn address(ip: IpAddr) -> KeyBytes<'static> {
        let mut bytes = [0u8; 16];
        let len = match ip {
            IpAddr::V4(v4) => {
                bytes[..4].copy_from_slice(&v4.octets());
                4
            }
            IpAddr::V6(v6) => {
                bytes = v6.octets();
                16
            }
        };
        KeyBytes::Address(bytes, len)
    }

    pub fn into_owned(self) -> Vec<u8> {
        self.to_vec()
    }
}

impl Deref for KeyBytes<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            KeyBytes::Borrowed(b) => b,
            KeyBytes::Address(bytes, len) => &bytes[..*len],
        }
    }
}

/// The ring: points sorted by hash, each with the index of the server that owns it.
#[derive(Debug)]
pub struct HashRing {
    points: Vec<(u64, usize)>,
}

impl HashRing {
    /// `servers`: label and weight of each server, in the group's order.
    pub fn new(servers: &[(&str, u32)]) -> HashRing {
        let mut points = Vec::new();
        for (index, &(label, weight)) in servers.iter().enumerate() {
            let count = (u64::from(weight.max(1)) * POINTS_PER_WEIGHT).min(MAX_POINTS);
            for n in 0..count {
                points.push((hash(format!("{label}#{n}").as_bytes()), index));
            }
        }
        points.sort_unstable();
        HashRing { points }
    }

    /// The server that owns `key`.
    pub fn owner(&self, key: &[u8]) -> usize {
        let h = hash(key);
        let at = self.points.partition_point(|&(p, _)| p < h);
        self.points.get(at).or(self.points.first()).map_or(0, |&(_, index)| index)
    }

    /// The server for `key` among those that may take it: the owner, or else the owner of
    /// the next point along the ring, so a server that is out spreads its keys over the
    /// others and gets them back when it returns.
    pub fn pick(&self, key: &[u8], admit: &Admit<'_>) -> Option<usize> {
        let h = hash(key);
        let at = self.points.partition_point(|&(p, _)| p < h);
        let n = self.points.len();
        let mut refused = 0u64;
        for k in 0..n {
            let index = self.points[(at + k) % n].1;
            if index < 64 && refused & (1 << index) != 0 {
                continue;
            }
            if admit.ok_fully(index) {
                return Some(index);
            }
            if index < 64 {
                refused |= 1 << index;
            }
        }
        None
    }

    /// A stable name of a label, for affinity cookies.
    pub fn label_id(label: &str) -> u64 {
        hash(label.as_bytes())
    }

    /// The ring's hash of any bytes: the same in every process and version.
    pub fn stable_hash(bytes: &[u8]) -> u64 {
        hash(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> impl Iterator<Item = String> {
        (0..10_000).map(|i| format!("user-{i}"))
    }

    #[test]
    fn adding_a_server_moves_only_its_share() {
        let three = HashRing::new(&[("a:1", 1), ("b:1", 1), ("c:1", 1)]);
        let four = HashRing::new(&[("a:1", 1), ("b:1", 1), ("c:1", 1), ("d:1", 1)]);
        let moved = keys().filter(|k| three.owner(k.as_bytes()) != four.owner(k.as_bytes())).count();
        assert!(moved < 3_000, "{moved} of 10000 keys moved");
        // A rebuilt ring (a reload), even with the servers listed in another order, maps
        // every key to the same server.
        let reordered = HashRing::new(&[("c:1", 1), ("a:1", 1), ("b:1", 1)]);
        let label = |ring: &HashRing, order: [&str; 3], k: &str| order[ring.owner(k.as_bytes())].to_string();
        assert!(keys().all(|k| label(&three, ["a", "b", "c"], &k) == label(&reordered, ["c", "a", "b"], &k)));
    }

    #[test]
    fn a_server_that_is_out_lends_its_keys_and_gets_them_back() {
        let ring = HashRing::new(&[("a:1", 1), ("b:1", 1), ("c:1", 1)]);
        let tier = crate::group::test_support::Tier::new(&[1, 1, 1]);
        let before: Vec<usize> = keys().map(|k| ring.pick(k.as_bytes(), &tier.admit()).unwrap()).collect();
        tier.endpoints[0].state.set_flag(crate::state::flag::DOWN);
        let during: Vec<usize> = keys().map(|k| ring.pick(k.as_bytes(), &tier.admit()).unwrap()).collect();
        for (b, d) in before.iter().zip(&during) {
            assert!(*d != 0, "no key goes to the server that is out");
            assert!(*b == 0 || b == d, "keys of the others stay put");
        }
        let lent: Vec<usize> = before.iter().zip(&during).filter(|(b, _)| **b == 0).map(|(_, d)| *d).collect();
        assert!(lent.contains(&1) && lent.contains(&2), "its keys are spread over the rest");
        tier.endpoints[0].state.clear_flag(crate::state::flag::DOWN);
        let after: Vec<usize> = keys().map(|k| ring.pick(k.as_bytes(), &tier.admit()).unwrap()).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn shares_follow_the_weights() {
        let ring = HashRing::new(&[("a:1", 1), ("b:1", 2), ("c:1", 3)]);
        let mut counts = [0usize; 3];
        for k in keys() {
            counts[ring.owner(k.as_bytes())] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let share = c as f64 / 10_000.0;
            let expected = (i + 1) as f64 / 6.0;
            assert!((share - expected).abs() < 0.05, "server {i}: {share:.3} vs {expected:.3}");
        }
    }

    #[test]
    fn keys_come_from_their_sources() {
        let req = http::Request::get("/p?a=1&id=42")
            .header("x-user", "ann")
            .header("cookie", "theme=dark; session=s1")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let input = PickInput { client: "10.1.2.3".parse().unwrap(), uri: &req.uri, headers: &req.headers };
        let of = |text: &str| HashKey::parse(text).unwrap().of(&input).map(|k| k.into_owned());
        assert_eq!(of("header:X-User").as_deref(), Some(&b"ann"[..]));
        assert_eq!(of("cookie:session").as_deref(), Some(&b"s1"[..]));
        assert_eq!(of("query:id").as_deref(), Some(&b"42"[..]));
        assert_eq!(of("uri").as_deref(), Some(&b"/p?a=1&id=42"[..]));
        assert_eq!(of("ip").as_deref(), Some(&[10, 1, 2, 3][..]));
        assert_eq!(of("cookie:missing"), None);
        assert_eq!(of("query:i"), None, "a prefix of a name is not the name");
        for bad in ["host", "header:", "header:a b", "cookie:", "query", "ip:x"] {
            assert!(HashKey::parse(bad).is_err(), "{bad}");
        }
    }
}
