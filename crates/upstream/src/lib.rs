//! Upstreams: the named groups of servers a route forwards to, how one server is picked
//! (balancing), what Forecourt knows about each server (in flight, latency, health), the
//! checks that keep bad servers out, the retry policy, and the per-worker pools of
//! connections to them.
//!
//! A group is part of the immutable config snapshot; the state that must outlive a reload
//! lives in the [`state::registry`], shared by name across snapshots.
mod balance;
pub mod chunked;
pub mod dns;
mod group;
mod h1;
pub mod health;
pub mod limit;
mod local_exec;
mod members;
pub mod outlier;
mod pool;
pub mod retry;
pub mod state;
pub mod tls;

pub use balance::{cookie, random_below, Algorithm, Balancer, HashKey, HashRing, PickInput};
pub use group::{GroupPolicies, MembersNow, Picked, Protocol, UpstreamGroup, UpstreamTimeouts};
pub use h1::is_idempotent;
pub use local_exec::LocalExec;
pub use members::{Endpoint, Members, Resolved, ServerSpec, ServerTarget};
pub use pool::{sends_inline, Pool, PoolCounters, PooledBody, SendFailure, UpstreamError};
