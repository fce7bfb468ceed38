//! Connection limits on a listener, checked at accept like its address lists: open
//! connections in all and per client address (`open`), new connections per second per
//! address (the rate limits' GCRA); what they refuse is counted in `crate::refusals`.
mod admission;
mod open;

pub use admission::{ConnectionLimits, ConnectionSpec};
pub use open::{OpenByListener, OpenCounts};
