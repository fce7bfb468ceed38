//! Response compression as a filter on a route's chain: the coding is chosen from the
//! client's `Accept-Encoding` (`negotiate.rs`), the response is checked (`eligible.rs`:
//! type, size, status, no coding yet, no `no-transform`), its head adjusted (`Vary`, a
//! weakened `ETag`, no `Content-Length`), and its body compressed as it streams, each
//! origin chunk flushed through (`body.rs`).
mod body;
mod eligible;
mod filter;
pub mod negotiate;

pub use eligible::Eligibility;
pub use filter::{CompressFilter, CompressOptions, Levels};
pub use negotiate::Coding;
