//! A listener's connection limits as an admission: refused past `max_connections` open on
//! the listener, past `max_connections_per_ip` open from one address, or past
//! `new_connections_per_ip` (a rate, with one period's worth as its burst). A client of
//! the `per_ip_exempt` lists is held to `max_connections` only.
use super::open::{Bound, OpenCounts};
use crate::address_key::address_key;
use crate::limits::gcra::{Conform, Rate};
use crate::limits::table::Table;
use crate::lists::{in_any, IpList};
use crate::refusals::Refusals;
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
    /// Lists whose clients the per-address limits do not hold.
    exempt: Vec<Arc<IpList>>,
    counts: Arc<OpenCounts>,
    refusals: Arc<Refusals>,
    rates: Table,
    secret: RandomState,
    epoch: Instant,
}

impl ConnectionLimits {
    /// `counts` are the listener's (kept across reloads); `refusals` the process's.
    pub fn new(
        spec: ConnectionSpec,
        exempt: Vec<Arc<IpList>>,
        counts: Arc<OpenCounts>,
        refusals: Arc<Refusals>,
    ) -> ConnectionLimits {
        ConnectionLimits {
            spec,
            exempt,
            counts,
            refusals,
            rates: Table::new(1_000_000),
            secret: RandomState::new(),
            epoch: Instant::now(),
        }
    }
}

impl Admission for ConnectionLimits {
    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        let key = address_key(peer, self.spec.ipv6_prefix);
        let per_address =
            (self.spec.rate_per_ip.is_some() || self.spec.per_ip.is_some()) && !in_any(&self.exempt, peer);
        let rate_per_ip = self.spec.rate_per_ip.filter(|_| per_address);
        if let Some(rate) = rate_per_ip {
            let now = self.epoch.elapsed().as_nanos() as u64 + rate.per_ns;
            let hashed = self.secret.hash_one(key);
            if let Conform::No { .. } = self.rates.check(hashed, now, rate.emission_ns(), rate.count.saturating_sub(1))
            {
                Refusals::count(&self.refusals.rate);
                return None;
            }
        }
        let per_ip = self.spec.per_ip.filter(|_| per_address);
        if self.spec.max.is_none() && per_ip.is_none() {
            return Some(Admitted::NOTHING);
        }
        match self.counts.open(per_ip.map(|_| key), self.spec.max.unwrap_or(u64::MAX), per_ip.unwrap_or(u32::MAX)) {
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
