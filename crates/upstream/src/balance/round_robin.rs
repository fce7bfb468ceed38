//! Smooth weighted round robin (nginx's).
use super::Admit;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Weighted round robin, smoothed so that heavy servers are interleaved with light ones
/// (nginx's "smooth weighted round-robin"), precomputed into a schedule at compile time.
/// Picking is one relaxed atomic increment.
#[derive(Debug)]
pub struct RoundRobin {
    schedule: Vec<usize>,
    next: AtomicUsize,
}

impl RoundRobin {
    /// `weights[i]` is the weight of endpoint `i`; every weight must be at least 1.
    pub fn new(weights: &[u32]) -> Self {
        let total: i64 = weights.iter().map(|&w| i64::from(w.max(1))).sum();
        let mut current = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(total as usize);
        for _ in 0..total {
            let mut best = 0;
            for (i, &w) in weights.iter().enumerate() {
                current[i] += i64::from(w.max(1));
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            schedule.push(best);
        }
        RoundRobin { schedule, next: AtomicUsize::new(0) }
    }

    /// The index of the endpoint that serves the next request: the next in the schedule
    /// that may take it.
    pub fn pick(&self, admit: &Admit<'_>) -> Option<usize> {
        let len = self.schedule.len();
        if len == 1 {
            return admit.ok(0).then_some(0);
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        (0..len).map(|k| self.schedule[(n + k) % len]).find(|&i| admit.ok(i)).or_else(|| admit.scan_from(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::test_support::Tier;

    #[test]
    fn weights_are_respected_and_interleaved() {
        let rr = RoundRobin::new(&[1, 3]);
        let tier = Tier::new(&[1, 3]);
        let picks: Vec<usize> = (0..8).map(|_| rr.pick(&tier.admit()).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 6);
        // smooth: the light server is not starved into one burst
        assert_eq!(&picks[..4], &[1, 0, 1, 1]);
    }

    #[test]
    fn equal_weights_alternate() {
        let rr = RoundRobin::new(&[1, 1, 1]);
        let tier = Tier::new(&[1, 1, 1]);
        let picks: Vec<usize> = (0..6).map(|_| rr.pick(&tier.admit()).unwrap()).collect();
        assert_eq!(picks, vec![0, 1, 2, 0, 1, 2]);
        // A server that is out is passed over; the others keep their order.
        tier.endpoints[1].state.set_flag(crate::state::flag::DOWN);
        let picks: Vec<usize> = (0..4).map(|_| rr.pick(&tier.admit()).unwrap()).collect();
        assert_eq!(picks, vec![0, 2, 2, 0]);
        let mut admit = tier.admit();
        admit.tried = 0b101;
        assert_eq!(rr.pick(&admit), None, "every server is out or tried");
    }
}
