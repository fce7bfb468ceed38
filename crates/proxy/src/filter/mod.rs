//! The filter contract and what carries it: the trait with its named phases
//! (`contract.rs`), the per-request context every phase gets (`context.rs`), and the
//! chain that runs filters in order (`chain.rs`). Every capability is a filter: the
//! built-in policies in `crate::filters`, and crates of their own.
mod chain;
mod context;
mod contract;

pub use chain::{Answered, Chain};
pub(crate) use context::Borrowed;
pub use context::{Later, RequestCtx};
pub use contract::{
    BodyNeed, Decision, Filter, FilterInfo, InspectedBody, OutgoingBody, Phases, Refresh, Verdict, Waiting,
};
#[cfg(test)]
pub(crate) mod testing;
