//! Strikes per client for one rule, counted over a sliding window: the count of the
//! current window plus the previous window's, weighted by how much of it still overlaps
//! (the estimate nginx, Cloudflare and Envoy use: one pair of counters per key, not a
//! timestamp per event). At most `max_keys` clients are tracked; past that a strike is
//! not counted (counted in `untracked`) rather than memory growing.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Window {
    /// When the current window began, in ns since the table's epoch.
    start_ns: u64,
    current: u32,
    previous: u32,
}

pub struct Strikes {
    windows: Mutex<HashMap<u128, Window>>,
    window_ns: u64,
    max_keys: usize,
    epoch: Instant,
    pub untracked: AtomicU64,
}

impl Strikes {
    pub fn new(window: Duration, max_keys: usize) -> Strikes {
        Strikes {
            windows: Mutex::new(HashMap::new()),
            window_ns: (window.as_nanos() as u64).max(1),
            max_keys,
            epoch: Instant::now(),
            untracked: AtomicU64::new(0),
        }
    }

    /// Counts a strike for `key`; whether it has now reached `count` within the window
    /// (its strikes are then forgotten: the ban takes over).
    pub fn strike(&self, key: u128, count: u32) -> bool {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let mut windows = self.windows.lock().unwrap();
        let full = windows.len() >= self.max_keys;
        let w = match windows.get_mut(&key) {
            Some(w) => w,
            None if full => {
                self.untracked.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            None => windows.entry(key).or_insert(Window { start_ns: now, current: 0, previous: 0 }),
        };
        let passed = (now - w.start_ns) / self.window_ns;
        if passed > 0 {
            w.previous = if passed == 1 { w.current } else { 0 };
            w.current = 0;
            w.start_ns += passed * self.window_ns;
        }
        w.current = w.current.saturating_add(1);
        let overlap = 1.0 - (now - w.start_ns) as f64 / self.window_ns as f64;
        let estimate = f64::from(w.current) + f64::from(w.previous) * overlap;
        if estimate + 1e-9 >= f64::from(count) {
            windows.remove(&key);
            return true;
        }
        false
    }

    /// Forgets clients with no strike in the last two windows.
    pub fn sweep(&self) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let horizon = 2 * self.window_ns;
        let mut windows = self.windows.lock().unwrap();
        windows.retain(|_, w| now - w.start_ns < horizon);
        if windows.capacity() > 4 * windows.len().max(16) {
            windows.shrink_to_fit();
        }
    }

    pub fn tracked(&self) -> usize {
        self.windows.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_trips_at_its_count_within_the_window_and_starts_again() {
        let s = Strikes::new(Duration::from_secs(60), 10);
        assert!(!s.strike(1, 3) && !s.strike(1, 3) && !s.strike(2, 3));
        assert!(s.strike(1, 3), "the third within the window");
        assert!(!s.strike(1, 3), "counted afresh after tripping");
        assert_eq!(s.tracked(), 2);
    }

    #[test]
    fn strikes_age_out_of_the_window_and_the_table_is_bounded() {
        let s = Strikes::new(Duration::from_millis(20), 2);
        assert!(!s.strike(1, 2));
        std::thread::sleep(Duration::from_millis(50));
        assert!(!s.strike(1, 2), "the first strike is two windows old");
        assert!(!s.strike(2, 5));
        assert!(!s.strike(3, 1), "a third client is not tracked");
        assert_eq!(s.untracked.load(Ordering::Relaxed), 1);
        std::thread::sleep(Duration::from_millis(50));
        s.sweep();
        assert_eq!(s.tracked(), 0);
    }
}
