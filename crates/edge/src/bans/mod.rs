//! Bans (`[bans]`): a client that trips a rule (so many matching answers in a window) is
//! refused for a while. The active bans (`table`), the rules and their strike counts
//! (`rule`, `strikes`), both kept across reloads by the process's `Bans` (`registry`), the
//! bans across restarts on disk too (`kept`);
//! sharing through Redis (`shared`); the filter that refuses banned clients and counts strikes (`filter`), the same check
//! at accept (`admission`), and their counters in `/metrics` (`metrics`).
mod admission;
mod filter;
mod kept;
pub mod metrics;
mod registry;
mod rule;
mod shared;
mod strikes;
mod table;

pub use admission::BanAdmission;
pub use filter::BanFilter;
pub use registry::{Bans, Strike};
pub use rule::{Rule, RuleSpec, Trigger};
pub use shared::client_of;
pub use table::{BanView, Source};
