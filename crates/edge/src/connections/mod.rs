//! Connection limits on a listener, checked at accept like its address lists: open
//! connections in all and per client address (`open`), new connections per second per
//! address (the rate limits' GCRA), and the count of connections refused at accept by
//! reason (`refusals`, shared with the lists).
mod admission;
mod open;
pub mod refusals;

pub use admission::{ConnectionLimits, ConnectionSpec};
pub use open::{OpenByListener, OpenCounts};
pub use refusals::Refusals;
