//! Who the client is. From an untrusted peer, the peer itself; from a peer in
//! `trusted_proxies` (a load balancer in front), the address that proxy says it served:
//! the forwarding chain (`X-Forwarded-For`, else `Forwarded`) read from the right, past
//! every trusted proxy, to the first address that is not one (nginx's `real_ip_recursive`).
//! Resolved once per request; limits, lists, logs and hashing by address all use it.
use crate::cidr::TrustedProxies;
use http::header::{HeaderMap, FORWARDED};
use std::net::IpAddr;

static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// The client's address for a request from `peer` carrying `headers`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    if trusted.is_empty() || !trusted.contains(peer) {
        return peer;
    }
    let hops = match headers.contains_key(&X_FORWARDED_FOR) {
        true => chain(headers, &X_FORWARDED_FOR, x_forwarded_for_hop),
        false => chain(headers, &FORWARDED, forwarded_hop),
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        // A hop that is not an address (`unknown`, an obfuscated name) ends what can be
        // known: the last trusted proxy is as far as the chain can be followed.
        let Some(ip) = hop else { break };
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    client
}

/// The hops of every value of `name`, in order (leftmost: the first client).
fn chain(headers: &HeaderMap, name: &http::HeaderName, hop: fn(&str) -> Option<IpAddr>) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        let Ok(text) = value.to_str() else {
            hops.push(None);
            continue;
        };
        hops.extend(text.split(',').map(str::trim).filter(|h| !h.is_empty()).map(hop));
    }
    hops
}

/// `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]:443` or `1.2.3.4:5678`.
fn x_forwarded_for_hop(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    text.rsplit_once(':').and_then(|(ip, port)| port.parse::<u16>().ok().and(ip.parse().ok()))
}

/// The `for=` of one `Forwarded` element (RFC 7239): `for=1.2.3.4`, `for="[2001:db8::1]:80"`.
fn forwarded_hop(element: &str) -> Option<IpAddr> {
    let value = element
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
        .map(|(_, v)| v.trim().trim_matches('"'))?;
    x_forwarded_for_hop(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(list: &[&str]) -> TrustedProxies {
        let cidrs = crate::cidr::CidrList(list.iter().map(|c| c.parse().unwrap()).collect());
        TrustedProxies { cidrs, lists: Vec::new() }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &trusted(&[])), ip("10.0.0.1"));
        assert_eq!(resolve(ip("192.0.2.9"), &h, &trusted(&["10.0.0.0/8"])), ip("192.0.2.9"));
    }

    #[test]
    fn a_trusted_chain_is_followed_past_every_trusted_hop() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.1.1")]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &t), ip("203.0.113.7"), "the spoofable left part is ignored");
        let split = headers(&[("x-forwarded-for", "203.0.113.7"), ("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(resolve(ip("10.0.0.1"), &split, &t), ip("203.0.113.7"));
        let all_trusted = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(resolve(ip("10.0.0.1"), &all_trusted, &t), ip("10.9.9.9"));
        let broken = headers(&[("x-forwarded-for", "203.0.113.7, unknown, 10.1.1.1")]);
        assert_eq!(resolve(ip("10.0.0.1"), &broken, &t), ip("10.1.1.1"), "stops at what cannot be read");
        assert_eq!(resolve(ip("10.0.0.1"), &headers(&[]), &t), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let t = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("forwarded", "for=198.51.100.1;proto=https, for=\"[2001:db8::7]:4711\"")]);
        assert_eq!(resolve(ip("10.0.0.1"), &h, &t), ip("2001:db8::7"));
        let v4_port = headers(&[("x-forwarded-for", "198.51.100.1:5000")]);
        assert_eq!(resolve(ip("10.0.0.1"), &v4_port, &t), ip("198.51.100.1"));
    }
}
