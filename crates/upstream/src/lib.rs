//! Upstreams: the named groups of servers a route forwards to, how one server is picked
//! (balancing), and the per-worker pools of connections to them.
//!
//! A group is part of the immutable config snapshot; the state that must outlive a reload
//! (per-endpoint counters) lives in [`EndpointStats`], shared by name across snapshots.
mod balance;
pub mod chunked;
mod group;
mod h1;
mod local_exec;
mod pool;

pub use balance::{Algorithm, Balancer, HashKey, PickInput};
pub use group::{Endpoint, EndpointStats, Protocol, UpstreamGroup, UpstreamTimeouts};
pub use local_exec::LocalExec;
pub use pool::{sends_inline, Pool, PoolCounters, PooledBody, UpstreamError};
