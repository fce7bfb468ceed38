//! `noop_filters = N`: filters that take part in every phase and do nothing, for
//! measuring what the chain itself costs a request (benchmarks).
use crate::filter::{Filter, FilterInfo, Phases};

pub struct Noop;

impl Filter for Noop {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("noop", Phases::ALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{decide, head, Fixture};

    #[test]
    fn it_takes_part_in_every_phase_and_lets_everything_through() {
        assert_eq!(Noop.phases(), Phases::ALL);
        assert!(decide(&Noop, &mut head("GET", "/", &[]), &mut Fixture::plain().cx()).is_none());
    }
}
