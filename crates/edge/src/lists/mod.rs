//! IP lists (`[lists.NAME]`): CIDRs inline, from a file or from a URL (`text`: one a line,
//! or JSON), held as merged ranges (`set`), used by a listener's `allow` / `deny` at
//! accept (`admission`) and a route's (`filter`, 403). A URL is a feed (`feed`) that a
//! thread of its own fetches again on an interval (`refresh`), its last good copy kept on
//! disk for the next start (`kept`); the running lists and
//! their hits in `/metrics` (`registry`, `metrics`).
mod admission;
pub mod feed;
mod filter;
pub mod kept;
mod list;
pub mod metrics;
mod refresh;
mod registry;
mod set;
pub mod text;

pub use admission::ListenerLists;
pub use feed::Feed;
pub use filter::IpListFilter;
pub use list::{in_any, IpList, Places};
pub use registry::Lists;
pub use set::IpSet;
