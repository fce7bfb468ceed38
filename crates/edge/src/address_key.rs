//! A client's key for per-address state (connection counts, bans): an IPv4 address whole
//! (an IPv4-mapped IPv6 address counts as its IPv4), an IPv6 address by its first
//! `ipv6_prefix` bits, since one host usually holds a whole /64 and could otherwise step
//! around any per-address rule.
use std::net::IpAddr;

/// The key: IPv4 keys are the address's 32 bits; IPv6 keys have the top bit set, apart
/// from every IPv4 key whatever the prefix.
pub fn address_key(ip: IpAddr, ipv6_prefix: u8) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(u32::from(v4)),
            None => (u128::from(v6) & mask(ipv6_prefix)) | 1 << 127,
        },
    }
}

/// What a key stands for, as an operator writes it: `203.0.113.7`, or `2001:db8::/64`.
pub fn describe(ip: IpAddr, ipv6_prefix: u8) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None if ipv6_prefix >= 128 => v6.to_string(),
            None => format!("{}/{ipv6_prefix}", std::net::Ipv6Addr::from(u128::from(v6) & mask(ipv6_prefix))),
        },
    }
}

fn mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix.min(128))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_prefix_and_never_meet_ipv4_ones() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a, 64), address_key(b, 64));
        assert_ne!(address_key(a, 64), address_key(c, 64));
        assert_ne!(address_key(a, 128), address_key(b, 128));
        assert_ne!(address_key("::".parse().unwrap(), 0), address_key("0.0.0.0".parse().unwrap(), 0));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped, 64), address_key("192.0.2.1".parse().unwrap(), 64));
        assert_eq!(describe(a, 64), "2001:db8:1:2::/64");
        assert_eq!(describe(mapped, 64), "192.0.2.1");
        assert_eq!(describe(a, 128), "2001:db8:1:2:aaaa::1");
    }
}
