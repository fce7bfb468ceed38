//! Upstreams: the named groups of servers a route forwards to, how one server is picked
//! (balancing), what Forecourt knows about each server (in flight, latency, health), the
//! checks that keep bad servers out, the retry policy, and the per-worker pools of
//! connections to them.
//!
//! A group is part of the immutable config snapshot; the state that must outlive a reload
//! lives in a [`state::Registry`] that the binary owns and hands to every compile, shared by
//! name across snapshots.
mod balance;
pub mod chunked;
mod counters;
mod dial;
pub mod dns;
mod endpoint;
mod error;
mod group;
mod h1;
mod h2_conns;
pub mod health;
mod interim;
pub mod limit;
mod local_exec;
mod members;
pub mod outlier;
mod pacing;
mod pool;
pub mod retry;
mod stable_hash;
pub mod state;
pub mod tls;
pub mod token;

pub use balance::{cookie, random_below, Algorithm, Balancer, HashKey, HashRing, PickInput};
pub use counters::PoolCounters;
pub use endpoint::Endpoint;
pub use error::{SendFailure, UpstreamError};
pub use group::{GroupPolicies, MembersNow, Picked, Protocol, UpstreamGroup, UpstreamTimeouts};
pub use h1::{is_idempotent, InlineRequest};
pub use interim::InterimSink;
pub use local_exec::LocalExec;
pub use members::{Members, Resolved, ServerSpec, ServerTarget};
pub use pool::{sends_inline, speaks_inline, Pool, PooledBody};
