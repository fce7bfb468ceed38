//! Forecourt's HTTP cache: an RFC 9111 shared cache as a filter on a route's chain.
//!
//! The policy (what may be stored, for how long, which stored response a request
//! selects) is in `directives` (with `targets`, `structured` and `surrogate`: the fields
//! targeted at this cache), `freshness`, `storable` and `vary`; the process-wide
//! `store` holds a bounded `memory` tier, an optional `disk` tier, the fetches in
//! progress (`fills`, for request coalescing) and the counters; `respond` makes answers from
//! stored responses, `partial` from stored parts (206s); `filter` joins them to the request
//! pipeline.
mod body_pages;
mod dates;
pub mod directives;
pub mod disk;
pub mod fills;
pub mod filter;
pub mod freshness;
pub mod key;
mod key_notes;
mod lineage;
mod memory;
pub mod metrics;
pub mod partial;
mod purge;
mod range_passes;
pub mod respond;
pub mod status;
pub mod storable;
pub mod store;
pub mod stored;
mod structured;
pub mod surrogate;
pub mod targets;
pub mod ttl_by_status;
pub mod vary;

pub use disk::{DiskConfig, TierUsage};
pub use filter::{Bypass, CacheFilter, RouteOptions, DEFAULT_STALE_IF_UNREACHABLE};
pub use key::KeySpec;
pub use purge::{Purge, UrlPattern};
pub use store::{Store, StoreConfig};
pub use ttl_by_status::TtlByStatus;
