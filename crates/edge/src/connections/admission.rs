//! A listener's connection limits as an admission: refused past `max_connections` open on
//! the listener, past `max_connections_per_ip` open from one address, or past
//! `new_connections_per_ip` (a rate, with one period's worth as its burst).
use super::open::{Bound, OpenCounts};
use super::refusals::Refusals;
use crate::limits::gcra::{Conform, Rate};
use crate::limits::table::Table;
use forecourt_proxy::admission::{Admission, Admitted};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionSpec {
    pub max: Option<u64>,
    pub per_ip: Option<u32>,
    pub rate_per_ip: Option<Rate>,
    /// Bits of an IPv6 address that name a client (64).
    pub ipv6_prefix: u8,
}

pub struct ConnectionLimits {
    spec: ConnectionSpec,
    counts: Arc<OpenCounts>,
    refusals: Arc<Refusals>,
    rates: Table,
    secret: RandomState,
    epoch: Instant,
}

impl ConnectionLimits {
    /// `counts` are the listener's (kept across reloads); `refusals` the process's.
    pub fn new(spec: ConnectionSpec, counts: Arc<OpenCounts>, refusals: Arc<Refusals>) -> ConnectionLimits {
        ConnectionLimits {
            spec,
            counts,
            refusals,
            rates: Table::new(1_000_000),
            secret: RandomState::new(),
            epoch: Instant::now(),
        }
    }

    /// The client's key: an IPv4 address, or an IPv6 address's prefix.
    fn key(&self, peer: IpAddr) -> u128 {
        match peer {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => u128::from(u32::from(v4)),
                None => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(self.spec.ipv6_prefix.min(128))).unwrap_or(0);
                    // Apart from every IPv4 key, whatever the prefix.
                    (u128::from(v6) & mask) | 1 << 127
                }
            },
        }
    }
}

impl Admission for ConnectionLimits {
    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        let key = self.key(peer);
        if let Some(rate) = self.spec.rate_per_ip {
            let now = self.epoch.elapsed().as_nanos() as u64 + rate.per_ns;
            let hashed = self.secret.hash_one(key);
            if let Conform::No { .. } = self.rates.check(hashed, now, rate.emission_ns(), rate.count.saturating_sub(1))
            {
                Refusals::count(&self.refusals.rate);
                return None;
            }
        }
        if self.spec.max.is_none() && self.spec.per_ip.is_none() {
            return Some(Admitted::NOTHING);
        }
        let per_ip = self.spec.per_ip.map(|_| key);
        match self.counts.open(per_ip, self.spec.max.unwrap_or(u64::MAX), self.spec.per_ip.unwrap_or(u32::MAX)) {
            Ok(open) => Some(Admitted::holding(open)),
            Err(Bound::Total) => {
                Refusals::count(&self.refusals.max_connections);
                None
            }
            Err(Bound::PerKey) => {
                Refusals::count(&self.refusals.per_ip);
                None
            }
        }
    }
}
