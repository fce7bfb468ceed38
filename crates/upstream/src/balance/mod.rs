//! Picking the server of a group for a request: the algorithms of `balance = ...`.
//!
//! A balancer is built once per config snapshot from the group's servers (their labels,
//! as written, and weights) and picks by index, skipping the servers that [`Admit`] turns
//! away (down, ejected, drained, full, or already tried by this request). Whatever it
//! builds from the labels alone (the hash ring) comes out the same after a reload, so keys
//! keep their servers.
mod hash;
mod least_conn;
mod p2c;
mod random;
mod round_robin;

pub use hash::{cookie, HashKey, HashRing};
pub use least_conn::LeastConn;
pub use p2c::PeakEwma;
pub use random::{next_random, random_below, WeightedRandom};
pub use round_robin::RoundRobin;

use crate::endpoint::Endpoint;
use std::net::IpAddr;
use std::time::Duration;

/// What a balancer may look at in a request.
pub struct PickInput<'a> {
    pub client: IpAddr,
    pub uri: &'a http::Uri,
    pub headers: &'a http::HeaderMap,
}

/// How the servers of a group are chosen.
#[derive(Debug)]
pub enum Balancer {
    RoundRobin(RoundRobin),
    Random(WeightedRandom),
    /// The first server that can take the request (the others stand by).
    First,
    /// A consistent hash of the key; requests without one are spread round robin.
    Hash {
        ring: HashRing,
        key: HashKey,
        fallback: RoundRobin,
    },
    LeastConn(LeastConn),
    PeakEwma(PeakEwma),
}

/// The algorithm named by `balance`, before it is built for a group's servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    Random,
    First,
    /// `ip_hash` is `Hash(HashKey::Ip)`.
    Hash(HashKey),
    LeastConn,
    /// Power of two choices on peak-EWMA latency × requests in flight.
    PeakEwma,
    /// Sticky sessions: Forecourt's own affinity cookie, round robin for newcomers.
    Cookie {
        name: String,
        ttl: Duration,
    },
}

impl Algorithm {
    /// The name `balance` gives it.
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::Random => "random",
            Algorithm::First => "first",
            Algorithm::Hash(HashKey::Ip) => "ip_hash",
            Algorithm::Hash(_) => "hash",
            Algorithm::LeastConn => "least_conn",
            Algorithm::PeakEwma => "p2c_ewma",
            Algorithm::Cookie { .. } => "cookie",
        }
    }
}

/// Which servers of a tier may take this request now.
pub struct Admit<'a> {
    pub endpoints: &'a [Endpoint],
    /// Bit `i` set: server `i` of the tier was already tried by this request.
    pub tried: u64,
    pub now: u64,
    pub slow_start: Duration,
}

impl Admit<'_> {
    /// Whether server `i` may take the request; a ramping server takes its share of the
    /// picks that land on it.
    pub fn ok(&self, i: usize) -> bool {
        let share = self.share(i);
        share >= 1.0 || (share > 0.0 && (next_random() % 1000) as f64 / 1000.0 < share)
    }

    /// Like `ok`, but never turns a server away by chance (for hashing, where a
    /// ramping server keeps its keys).
    pub fn ok_fully(&self, i: usize) -> bool {
        self.share(i) > 0.0
    }

    /// The share of its weight server `i` may take now: 0 when it is tried, full, down,
    /// ejected or drained; below 1 while it ramps up.
    fn share(&self, i: usize) -> f64 {
        if i < 64 && self.tried & (1 << i) != 0 {
            return 0.0;
        }
        let ep = &self.endpoints[i];
        if ep.max_conns.is_some_and(|max| ep.state.in_flight() >= max) {
            return 0.0;
        }
        match ep.state.flags() {
            0 => 1.0,
            flags => ep.state.admission(flags, self.now, self.slow_start),
        }
    }

    /// The first server that may take the request, from `start` on, wrapping around.
    pub fn scan_from(&self, start: usize) -> Option<usize> {
        let n = self.endpoints.len();
        (0..n).map(|k| (start + k) % n).find(|&i| self.ok_fully(i))
    }
}

impl Balancer {
    /// `servers`: each server's label (as written in the config) and weight (at least 1).
    pub fn new(algorithm: &Algorithm, servers: &[(&str, u32)]) -> Balancer {
        let weights: Vec<u32> = servers.iter().map(|&(_, w)| w).collect();
        match algorithm {
            Algorithm::RoundRobin | Algorithm::Cookie { .. } => Balancer::RoundRobin(RoundRobin::new(&weights)),
            Algorithm::Random => Balancer::Random(WeightedRandom::new(&weights)),
            Algorithm::First => Balancer::First,
            Algorithm::Hash(key) => {
                Balancer::Hash { ring: HashRing::new(servers), key: key.clone(), fallback: RoundRobin::new(&weights) }
            }
            Algorithm::LeastConn => Balancer::LeastConn(LeastConn::default()),
            Algorithm::PeakEwma => Balancer::PeakEwma(PeakEwma::new(&weights)),
        }
    }

    /// The index of the server for this request, or `None` if no server may take it.
    pub fn pick(&self, input: &PickInput<'_>, admit: &Admit<'_>) -> Option<usize> {
        if admit.endpoints.is_empty() {
            return None;
        }
        match self {
            Balancer::RoundRobin(rr) => rr.pick(admit),
            Balancer::Random(random) => random.pick(admit),
            Balancer::First => admit.scan_from(0),
            Balancer::Hash { ring, key, fallback } => match key.of(input) {
                Some(bytes) => ring.pick(&bytes, admit),
                None => fallback.pick(admit),
            },
            Balancer::LeastConn(lc) => lc.pick(admit),
            Balancer::PeakEwma(p2c) => p2c.pick(admit),
        }
    }
}
