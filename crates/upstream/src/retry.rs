//! When a failed request is tried again on another server, and how many retries an
//! upstream may spend: a budget of a share of its requests plus a small floor, so that
//! retries hide a failing server without multiplying the load on a failing upstream.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What may be retried, per upstream (`[upstream.NAME.retry]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Tries in all, the first included (1 = no retries).
    pub attempts: u32,
    /// Response statuses that are retried like a failed connection (e.g. 502, 503, 504).
    pub statuses: Vec<u16>,
    /// Whether timeouts (connect and response head) are retried.
    pub on_timeout: bool,
    /// Longest time one try may wait for a response head (defaults to the upstream's
    /// response timeout).
    pub per_try_timeout: Option<Duration>,
    /// No new try starts after this long since the first.
    pub deadline: Option<Duration>,
    /// Retries may add at most this share of the upstream's requests ...
    pub budget_ratio: f64,
    /// ... plus this many per second, so that a quiet upstream can still retry.
    pub budget_floor_per_sec: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 2,
            statuses: Vec::new(),
            on_timeout: true,
            per_try_timeout: None,
            deadline: None,
            budget_ratio: 0.2,
            budget_floor_per_sec: 10,
        }
    }
}

/// The seconds over which the budget is counted.
const WINDOW_SECS: u64 = 10;

/// The upstream's request count at the start of each of the last WINDOW_SECS seconds, and
/// the retries spent in each, kept across reloads. The count is sampled by the first
/// request of each second (one relaxed load per request otherwise), so that the window
/// holds the traffic of the seconds before an incident, not only what came once retries
/// began: a server that fails under load can have all its requests in flight retried.
#[derive(Debug, Default)]
pub struct BudgetWindow {
    /// The second of the last sample, plus one (0: none yet).
    sampled: AtomicU64,
    inner: Mutex<Slots>,
}

#[derive(Debug)]
struct Slots {
    /// The second each slot stands for (`u64::MAX`: none yet), the request count when it
    /// began, and its retries.
    slots: [(u64, u64, u64); WINDOW_SECS as usize],
}

impl Default for Slots {
    fn default() -> Self {
        Slots { slots: [(u64::MAX, 0, 0); WINDOW_SECS as usize] }
    }
}

impl Slots {
    /// Starts the slot of `now_sec` with the request count `total`, if not yet started.
    fn begin(&mut self, now_sec: u64, total: u64) -> usize {
        let slot = (now_sec % WINDOW_SECS) as usize;
        if self.slots[slot].0 != now_sec {
            self.slots[slot] = (now_sec, total, 0);
        }
        slot
    }
}

impl BudgetWindow {
    /// Called by every request of the upstream before its first try: the first one of a
    /// new second records the request count (`requests_total` is read only then).
    #[inline]
    pub fn observe(&self, now_sec: u64, requests_total: impl FnOnce() -> u64) {
        if self.sampled.load(Ordering::Relaxed) == now_sec + 1 {
            return;
        }
        if self.sampled.swap(now_sec + 1, Ordering::Relaxed) != now_sec + 1 {
            self.inner.lock().unwrap().begin(now_sec, requests_total());
        }
    }

    /// Takes one retry from the budget if there is one. `requests_total` is the upstream's
    /// request count so far (retries included), `now_sec` the current second.
    pub fn try_spend(&self, policy: &RetryPolicy, requests_total: u64, now_sec: u64) -> bool {
        let mut s = self.inner.lock().unwrap();
        let slot = s.begin(now_sec, requests_total);
        // The window: every slot of the last WINDOW_SECS seconds.
        let live = s.slots.iter().filter(|(sec, ..)| *sec <= now_sec && now_sec - *sec < WINDOW_SECS);
        let (oldest_count, retries, seconds) = live
            .fold((requests_total, 0, 0), |(oldest, retries, n), &(_, count, r)| {
                (oldest.min(count), retries + r, n + 1)
            });
        let attempts = requests_total.saturating_sub(oldest_count);
        let originals = attempts.saturating_sub(retries);
        let allowed = policy.budget_ratio * originals as f64 + f64::from(policy.budget_floor_per_sec) * seconds as f64;
        if (retries as f64) < allowed {
            s.slots[slot].2 += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_the_share_and_the_floor() {
        let policy = RetryPolicy { budget_ratio: 0.1, budget_floor_per_sec: 2, ..RetryPolicy::default() };
        let window = BudgetWindow::default();
        // 1000 requests in one second: 10% of them plus the floor of 2.
        let mut granted = 0;
        let mut total = 0;
        for _ in 0..1000 {
            total += 1;
            if window.try_spend(&policy, total, 100) {
                granted += 1;
                total += 1; // the retry is a request too
            }
        }
        assert!((100..=103).contains(&granted), "{granted}");
        // Seconds that saw no retry add no floor.
        let fresh = BudgetWindow::default();
        assert!(fresh.try_spend(&policy, 1, 3));
        assert!(fresh.try_spend(&policy, 2, 3));
        assert!(!fresh.try_spend(&policy, 3, 3), "the floor of one second is 2");
        // A quiet upstream still gets its floor in a new second.
        let mut quiet = 0;
        for _ in 0..5 {
            if window.try_spend(&policy, total, 101) {
                quiet += 1;
            }
        }
        assert!(quiet <= 2 + 1, "{quiet}");
    }

    /// The traffic of the seconds before an incident counts: 5,000 requests a second for
    /// five seconds fund a burst of 1,000 retries at once (what was in flight on a server
    /// that died), yet an upstream that fails as a whole is still held to the share.
    #[test]
    fn the_window_holds_the_seconds_before_the_first_retry() {
        let policy = RetryPolicy::default();
        let window = BudgetWindow::default();
        let mut total = 0;
        for sec in 100..105 {
            for _ in 0..5_000 {
                total += 1;
                window.observe(sec, || total);
            }
        }
        let burst = (0..1_000).filter(|_| window.try_spend(&policy, total, 105)).count();
        assert_eq!(burst, 1_000, "the burst is covered by the window's 25,000 requests");
        // Every server fails from now on: every request asks for a retry.
        let (mut asked, mut granted) = (0, 0);
        for sec in 105..125 {
            for _ in 0..5_000 {
                total += 1;
                window.observe(sec, || total);
                asked += 1;
                if window.try_spend(&policy, total, sec) {
                    granted += 1;
                    total += 1;
                }
            }
        }
        let cap = 0.2 * (25_000 + asked) as f64 + 10.0 * 25.0;
        assert!((granted as f64) <= cap, "{granted} retries for {asked} requests");
        assert!(granted < asked / 4, "the storm is capped: {granted} of {asked}");
    }
}
