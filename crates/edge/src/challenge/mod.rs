//! Challenge pages (`[challenge]`): a client that a rule picks (or every client, "under
//! attack") must show a pass, earned by solving a SHA-256 proof of work in a Web Worker
//! (`page`, `assets/`). Puzzles and passes are signed strings bound to the client's
//! address (`token`) under keys that rotate (`keys`); a solution is good once
//! (`redeemed`). What outlives a reload (`state`) and a restart (`kept`), who is
//! challenged (`rules`), the page
//! and its endpoints (`gate`), the filter (`filter`) and `/metrics` (`metrics`).
mod filter;
mod gate;
mod kept;
mod keys;
pub mod metrics;
mod page;
mod redeemed;
mod rules;
mod state;
pub mod token;

pub use filter::ChallengeFilter;
pub use gate::{Gate, GateSpec};
pub use page::NoJs;
pub use rules::Rule;
pub use state::Challenges;
