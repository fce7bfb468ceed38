//! IP lists (`[lists.NAME]`): CIDRs inline or from a file (`text`), held as merged ranges
//! (`set`), used by a listener's `allow` / `deny` at accept (`admission`) and a route's
//! (`filter`, 403); their hits in `/metrics` (`registry`, `metrics`).
mod admission;
mod filter;
mod list;
pub mod metrics;
mod registry;
mod set;
pub mod text;

pub use admission::ListenerLists;
pub use filter::IpListFilter;
pub use list::IpList;
pub use registry::Lists;
pub use set::IpSet;
