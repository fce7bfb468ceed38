//! Named rate limits (`[limits.NAME]`): a GCRA per key (`gcra`), keys made from the
//! request (`key`), a bounded table of buckets per limit that outlives reloads (`table`,
//! `registry`), the shared store through Redis (`shared`), the filter that applies a route's (or the front chain's) limits
//! (`filter`), and their counters in `/metrics` (`metrics`).
mod filter;
pub(crate) mod gcra;
mod key;
pub mod metrics;
mod registry;
mod shared;
pub(crate) mod table;

pub use filter::{AppliedLimit, RateLimitFilter};
pub use gcra::Rate;
pub use key::{KeyPart, KeySpec};
pub use registry::{Action, Limit, LimitSpec, Registry};
