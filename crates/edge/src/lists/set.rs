//! A set of addresses made of many CIDRs (a feed holds hundreds of thousands): sorted,
//! merged ranges, one array per family, looked up by binary search (about 18 steps for
//! 200,000 ranges). An IPv4-mapped IPv6 address is looked up as the IPv4 address.
use forecourt_proxy::cidr::Cidr;
use std::net::IpAddr;

#[derive(Debug, Default)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    pub fn new(cidrs: &[Cidr]) -> IpSet {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for c in cidrs {
            match c.parts() {
                (IpAddr::V4(net), bits) => {
                    let host = u32::MAX.checked_shr(u32::from(bits)).unwrap_or(0);
                    let start = u32::from(net) & !host;
                    v4.push((start, start | host));
                }
                (IpAddr::V6(net), bits) => {
                    let host = u128::MAX.checked_shr(u32::from(bits)).unwrap_or(0);
                    let start = u128::from(net) & !host;
                    v6.push((start, start | host));
                }
            }
        }
        IpSet { v4: merge(v4), v6: merge(v6) }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => within(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => within(&self.v4, u32::from(v4)),
                None => within(&self.v6, u128::from(a)),
            },
        }
    }

    /// Ranges held, after merging.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Sorts ranges and joins those that overlap or touch.
fn merge<T: Copy + Ord + num::Step>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if T::touches(last.1, start) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out.shrink_to_fit();
    out
}

fn within<T: Copy + Ord>(ranges: &[(T, T)], a: T) -> bool {
    // The last range that starts at or before `a`.
    let i = ranges.partition_point(|r| r.0 <= a);
    i > 0 && a <= ranges[i - 1].1
}

mod num {
    /// Whether a range ending at `end` and one starting at `start` make one.
    pub trait Step {
        fn touches(end: Self, start: Self) -> bool;
    }
    impl Step for u32 {
        fn touches(end: u32, start: u32) -> bool {
            end == u32::MAX || start <= end + 1
        }
    }
    impl Step for u128 {
        fn touches(end: u128, start: u128) -> bool {
            end == u128::MAX || start <= end + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cidrs: &[&str]) -> IpSet {
        IpSet::new(&cidrs.iter().map(|c| c.parse().unwrap()).collect::<Vec<_>>())
    }

    #[test]
    fn lookups_in_merged_ranges() {
        let s = set(&["10.0.0.0/8", "10.1.0.0/16", "192.168.1.7", "192.168.1.8/31", "2001:db8::/32", "0.0.0.0/0"]);
        assert_eq!(s.len(), 2, "everything IPv4 merges into 0/0");
        let s = set(&["10.0.0.0/8", "10.1.0.0/16", "192.168.1.7", "192.168.1.8/31", "2001:db8::/32"]);
        assert_eq!(s.len(), 3, "10/8 swallows 10.1/16; .7 and .8/31 touch");
        for (ip, inside) in [
            ("10.255.255.255", true),
            ("11.0.0.0", false),
            ("192.168.1.6", false),
            ("192.168.1.9", true),
            ("192.168.1.10", false),
            ("::ffff:10.2.3.4", true),
            ("2001:db8:ffff::1", true),
            ("2001:db9::1", false),
        ] {
            assert_eq!(s.contains(ip.parse().unwrap()), inside, "{ip}");
        }
        assert!(!IpSet::default().contains("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn two_hundred_thousand_entries_load_and_answer_quickly() {
        let cidrs: Vec<Cidr> = (0..200_000u32)
            .map(|i| 2 * i) // every other /24, so that none merge
            .map(|j| format!("{}.{}.{}.0/24", 1 + j / 65536, (j / 256) % 256, j % 256).parse().unwrap())
            .collect();
        let t = std::time::Instant::now();
        let s = IpSet::new(&cidrs);
        let built = t.elapsed();
        assert_eq!(s.len(), 200_000);
        let t = std::time::Instant::now();
        let mut hits = 0;
        for i in 0..100_000u32 {
            hits += usize::from(s.contains(std::net::IpAddr::from((i.wrapping_mul(2_654_435_761)).to_be_bytes())));
        }
        let per_lookup = t.elapsed() / 100_000;
        assert!(hits > 0 && built.as_secs_f64() < 2.0 && per_lookup.as_nanos() < 2_000, "{built:?} {per_lookup:?}");
    }
}
