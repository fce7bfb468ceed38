//! Weighted random choice.
use super::Admit;
use std::cell::Cell;

#[derive(Debug)]
pub struct WeightedRandom {
    /// Running totals of the weights: server `i` owns `[cumulative[i-1], cumulative[i])`.
    cumulative: Vec<u64>,
}

impl WeightedRandom {
    pub fn new(weights: &[u32]) -> WeightedRandom {
        let cumulative = weights
            .iter()
            .scan(0u64, |total, &w| {
                *total += u64::from(w.max(1));
                Some(*total)
            })
            .collect();
        WeightedRandom { cumulative }
    }

    /// A server drawn by weight, ignoring whether it may take the request.
    pub fn draw(&self) -> usize {
        let total = *self.cumulative.last().unwrap_or(&1);
        let r = next_random() % total;
        self.cumulative.partition_point(|&c| c <= r)
    }

    /// A server drawn by weight among those that may take the request.
    pub fn pick(&self, admit: &Admit<'_>) -> Option<usize> {
        for _ in 0..4 {
            let i = self.draw();
            if admit.ok(i) {
                return Some(i);
            }
        }
        admit.scan_from(self.draw())
    }
}

thread_local! {
    /// Each worker thread draws from its own generator, seeded apart from the others.
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS once per process and differs per instance.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish() | 1
}

/// A number drawn from `0..n` (0 when `n` is 0).
pub fn random_below(n: u64) -> u64 {
    next_random() % n.max(1)
}

/// xorshift64*: plenty for spreading load, and one multiply per pick.
pub fn next_random() -> u64 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_follow_the_weights() {
        let random = WeightedRandom::new(&[1, 2, 3]);
        let tier = crate::group::test_support::Tier::new(&[1, 2, 3]);
        let mut counts = [0usize; 3];
        for _ in 0..60_000 {
            counts[random.pick(&tier.admit()).unwrap()] += 1;
        }
        for (i, &c) in counts.iter().enumerate() {
            let share = c as f64 / 60_000.0;
            let expected = (i + 1) as f64 / 6.0;
            assert!((share - expected).abs() < 0.02, "server {i}: {share:.3} vs {expected:.3}");
        }
    }
}
