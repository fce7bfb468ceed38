//! When to renew: two thirds into a certificate's lifetime (a 90-day certificate at day
//! 60, leaving a month for retries), or at a random point of the window the CA suggests
//! (ACME renewal information, RFC 9773), asked for again as often as the CA says; after a
//! failure, again after a backoff that grows from a minute to a day, jittered so that many
//! names (or many instances) do not retry in step.
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::{Duration, SystemTime};

/// Two thirds of the way from `not_before` to `not_after`.
pub fn two_thirds(not_before: SystemTime, not_after: SystemTime) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    not_before + lifetime * 2 / 3
}

/// A uniformly random point of `[start, end]`.
pub fn within(start: SystemTime, end: SystemTime) -> SystemTime {
    let width = end.duration_since(start).unwrap_or_default();
    start + width.mul_f64(random_unit())
}

/// A renewal time drawn from the window a CA suggests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drawn {
    pub window: (SystemTime, SystemTime),
    pub at: SystemTime,
}

/// The renewal time for `window`: the one drawn before while the CA suggests the same
/// window, else a new draw. Drawing anew at every check would pull renewals toward the
/// window's start, and a window moved earlier (after a revocation, say) must be followed.
pub fn draw(window: (SystemTime, SystemTime), before: Option<Drawn>) -> Drawn {
    match before {
        Some(drawn) if drawn.window == window => drawn,
        _ => Drawn { window, at: within(window.0, window.1) },
    }
}

/// How soon to ask the CA about a certificate's window again: when its Retry-After says,
/// held between a minute and a day (RFC 9773, section 4.3.2).
pub fn recheck_after(retry_after: Duration) -> Duration {
    retry_after.clamp(Duration::from_secs(60), Duration::from_secs(86_400))
}

/// How long to wait after the `failures`-th failure in a row (1-based).
pub fn backoff(failures: u32) -> Duration {
    const STEPS: [u64; 10] = [60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400];
    let step = STEPS[(failures.max(1) as usize - 1).min(STEPS.len() - 1)];
    // ±20%.
    Duration::from_secs(step).mul_f64(0.8 + 0.4 * random_unit())
}

/// A random number in [0, 1): the standard library's per-process random hash keys are
/// enough for spreading retries, without a random-number crate.
fn random_unit() -> f64 {
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let bits = RandomState::new().hash_one(nanos);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_two_thirds_in() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let end = start + Duration::from_secs(90 * 86400);
        assert_eq!(two_thirds(start, end), start + Duration::from_secs(60 * 86400));
    }

    #[test]
    fn random_points_stay_in_the_window() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let end = start + Duration::from_secs(3600);
        for _ in 0..100 {
            let t = within(start, end);
            assert!(t >= start && t <= end);
        }
    }

    #[test]
    fn a_drawn_time_holds_until_the_window_moves() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let window = (start, start + Duration::from_secs(86_400));
        let first = draw(window, None);
        assert!(first.at >= window.0 && first.at <= window.1);
        for _ in 0..20 {
            assert_eq!(draw(window, Some(first)), first, "the same window keeps its time");
        }
        let earlier = (start - Duration::from_secs(7200), start - Duration::from_secs(3600));
        let moved = draw(earlier, Some(first));
        assert_eq!(moved.window, earlier);
        assert!(moved.at >= earlier.0 && moved.at <= earlier.1, "a moved window draws again");
    }

    #[test]
    fn rechecks_between_a_minute_and_a_day() {
        assert_eq!(recheck_after(Duration::ZERO), Duration::from_secs(60));
        assert_eq!(recheck_after(Duration::from_secs(21_600)), Duration::from_secs(21_600));
        assert_eq!(recheck_after(Duration::from_secs(10 * 86_400)), Duration::from_secs(86_400));
    }

    #[test]
    fn backoff_grows_to_a_day_with_jitter() {
        let first = backoff(1);
        assert!(first >= Duration::from_secs(48) && first <= Duration::from_secs(72), "{first:?}");
        assert!(backoff(3) > backoff(1).mul_f64(2.0));
        let last = backoff(50);
        assert!(last >= Duration::from_secs(69_120) && last <= Duration::from_secs(103_680), "{last:?}");
        let spread: std::collections::HashSet<_> = (0..20).map(|_| backoff(4).as_millis()).collect();
        assert!(spread.len() > 1, "retries are jittered");
    }
}
