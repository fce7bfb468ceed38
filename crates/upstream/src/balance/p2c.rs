//! Power of two choices on peak-EWMA latency (Finagle's and Linkerd's default): draw two
//! servers by weight, send to the one with the lower latency estimate × (requests in
//! flight + 1). A server that turns slow is avoided within a few requests, and one that
//! recovers is tried again as its estimate fades.
use super::{next_random, Admit, WeightedRandom};

#[derive(Debug)]
pub struct PeakEwma {
    draw: WeightedRandom,
}

impl PeakEwma {
    pub fn new(weights: &[u32]) -> PeakEwma {
        PeakEwma { draw: WeightedRandom::new(weights) }
    }

    pub fn pick(&self, admit: &Admit<'_>) -> Option<usize> {
        let n = admit.endpoints.len();
        if n == 1 {
            return admit.ok(0).then_some(0);
        }
        let a = self.draw_admitted(admit, None);
        let b = self.draw_admitted(admit, a);
        match (a, b) {
            (Some(a), Some(b)) => Some(if self.cost(admit, b) < self.cost(admit, a) { b } else { a }),
            (Some(one), None) | (None, Some(one)) => Some(one),
            // Draws kept missing: the cheapest of all that may take it.
            (None, None) => (0..n)
                .filter(|&i| admit.ok_fully(i))
                .min_by(|&x, &y| self.cost(admit, x).total_cmp(&self.cost(admit, y))),
        }
    }

    /// A server drawn by weight that may take the request and is not `other` (a draw
    /// that lands on `other` moves to one of the rest at random).
    fn draw_admitted(&self, admit: &Admit<'_>, other: Option<usize>) -> Option<usize> {
        let n = admit.endpoints.len();
        for _ in 0..3 {
            let mut i = self.draw.draw();
            if let Some(other) = other.filter(|&o| o == i) {
                i = (other + 1 + (next_random() % (n as u64 - 1)) as usize) % n;
            }
            if admit.ok(i) {
                return Some(i);
            }
        }
        None
    }

    /// Load per unit of weight.
    fn cost(&self, admit: &Admit<'_>, i: usize) -> f64 {
        let ep = &admit.endpoints[i];
        ep.state.cost(admit.now) / f64::from(ep.weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::test_support::Tier;
    use std::time::Duration;

    #[test]
    fn a_slow_server_is_avoided() {
        let tier = Tier::new(&[1, 1, 1]);
        let p2c = PeakEwma::new(&[1, 1, 1]);
        let now = crate::state::now_ns();
        for (i, ep) in tier.endpoints.iter().enumerate() {
            let rtt = if i == 2 { Duration::from_millis(50) } else { Duration::from_micros(200) };
            ep.state.observe(rtt, now);
        }
        let mut admit = tier.admit();
        admit.now = now;
        let mut counts = [0; 3];
        for _ in 0..3000 {
            counts[p2c.pick(&admit).unwrap()] += 1;
        }
        assert_eq!(counts[2], 0, "{counts:?}");
        assert!(counts[0] > 500 && counts[1] > 500, "both fast servers are used: {counts:?}");
    }

    #[test]
    fn requests_in_flight_count() {
        let tier = Tier::new(&[1, 1]);
        let p2c = PeakEwma::new(&[1, 1]);
        let now = crate::state::now_ns();
        for ep in &tier.endpoints {
            ep.state.observe(Duration::from_millis(1), now);
        }
        let _held: Vec<_> = (0..5).map(|_| tier.endpoints[0].state.start(now)).collect();
        let mut admit = tier.admit();
        admit.now = now;
        assert!((0..100).all(|_| p2c.pick(&admit) == Some(1)));
    }
}
