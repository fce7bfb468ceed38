//! Picking the server of a group for a request: the algorithms of `balance = ...`.
//!
//! A balancer is built once per config snapshot from the group's servers (their labels,
//! as written, and weights) and picks by index. Whatever it builds from the labels alone
//! (the hash ring) comes out the same after a reload, so keys keep their servers.
mod hash;
mod random;
mod round_robin;

pub use hash::{HashKey, HashRing};
pub use random::WeightedRandom;
pub use round_robin::RoundRobin;

use std::net::IpAddr;

/// What a balancer may look at in a request.
pub struct PickInput<'a> {
    pub client: IpAddr,
    pub request: &'a http::request::Parts,
}

/// How the servers of a group are chosen.
#[derive(Debug)]
pub enum Balancer {
    RoundRobin(RoundRobin),
    Random(WeightedRandom),
    /// Always the first server (the others stand by).
    First,
    /// A consistent hash of the key; requests without one are spread round robin.
    Hash {
        ring: HashRing,
        key: HashKey,
        fallback: RoundRobin,
    },
}

/// The algorithm named by `balance`, before it is built for a group's servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Algorithm {
    RoundRobin,
    Random,
    First,
    /// `ip_hash` is `Hash(HashKey::Ip)`.
    Hash(HashKey),
}

impl Balancer {
    /// `servers`: each server's label (as written in the config) and weight (at least 1).
    pub fn new(algorithm: &Algorithm, servers: &[(&str, u32)]) -> Balancer {
        let weights: Vec<u32> = servers.iter().map(|&(_, w)| w).collect();
        match algorithm {
            Algorithm::RoundRobin => Balancer::RoundRobin(RoundRobin::new(&weights)),
            Algorithm::Random => Balancer::Random(WeightedRandom::new(&weights)),
            Algorithm::First => Balancer::First,
            Algorithm::Hash(key) => {
                Balancer::Hash { ring: HashRing::new(servers), key: key.clone(), fallback: RoundRobin::new(&weights) }
            }
        }
    }

    /// The index of the server for this request.
    pub fn pick(&self, input: &PickInput<'_>) -> usize {
        match self {
            Balancer::RoundRobin(rr) => rr.pick(),
            Balancer::Random(random) => random.pick(),
            Balancer::First => 0,
            Balancer::Hash { ring, key, fallback } => match key.of(input) {
                Some(bytes) => ring.pick(&bytes),
                None => fallback.pick(),
            },
        }
    }
}
