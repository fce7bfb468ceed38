//! Weighted least connections: the server with the fewest requests in flight per unit of
//! weight, counted across all workers.
use super::Admit;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct LeastConn {
    /// Where the scan starts, moved on each pick so that ties are shared round robin.
    start: AtomicUsize,
}

impl LeastConn {
    pub fn pick(&self, admit: &Admit<'_>) -> Option<usize> {
        let n = admit.endpoints.len();
        let start = self.start.fetch_add(1, Ordering::Relaxed);
        let mut best: Option<(usize, u64, u64)> = None;
        for k in 0..n {
            let i = (start + k) % n;
            if !admit.ok(i) {
                continue;
            }
            let ep = &admit.endpoints[i];
            let (load, weight) = (u64::from(ep.state.in_flight()), u64::from(ep.weight));
            // load/weight < best_load/best_weight, without division.
            if best.is_none_or(|(_, l, w)| load * w < l * weight) {
                best = Some((i, load, weight));
            }
        }
        best.map(|(i, ..)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::test_support::Tier;

    #[test]
    fn the_least_loaded_per_weight_wins() {
        let tier = Tier::new(&[1, 1, 2]);
        let lc = LeastConn::default();
        let held: Vec<_> = [0, 0, 1, 2, 2].iter().map(|&i| tier.endpoints[i].state.start(0)).collect();
        // in flight 2, 1, 2 → per weight 2, 1, 1: server 1 or 2.
        for _ in 0..4 {
            assert_ne!(lc.pick(&tier.admit()), Some(0));
        }
        drop(held);
        let picks: Vec<_> = (0..3).map(|_| lc.pick(&tier.admit()).unwrap()).collect();
        assert_eq!(picks.len(), 3, "ties are shared: {picks:?}");
        assert!(picks.contains(&0) && picks.contains(&1));
    }
}
