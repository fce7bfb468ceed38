//! `noop_filters = N`: filters that take part in every phase and do nothing, for
//! measuring what the chain itself costs a request (benchmarks).
use crate::filter::{Filter, FilterInfo, Phases};

pub struct Noop;

impl Filter for Noop {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("noop", Phases::ALL)
    }
}
