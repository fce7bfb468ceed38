//! The inspection budget: the CPU time the rules may spend on one request, counted on the
//! clock of the thread that runs them. A wall-clock deadline counted what the machine gave
//! other programs as well: on a busy machine (a load generator beside the proxy, a backup,
//! the other workers of a two-core box) ordinary requests ran out of a budget they never
//! used, and were refused or passed uninspected for it. The rules' own time is what the
//! budget is for: inputs that cost more than their length (backtracking bait, deep
//! nesting).
//!
//! The thread's clock is a system call, the wall clock is not: since a thread's CPU time
//! never runs ahead of wall time, the thread's clock is read only once the wall clock says
//! the budget could be spent, and then the next look is put off by what is left.
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Budget {
    allowed: Duration,
    /// This thread's CPU time when the budget started (None where the clock is missing:
    /// then wall time counts, as it did before).
    cpu_at_start: Option<Duration>,
    started: Instant,
    /// Before this instant the budget cannot have been spent.
    next_look: Instant,
}

impl Budget {
    /// A budget of `allowed` CPU time on this thread, counted from now. The rules run
    /// synchronously on the thread that starts it; a later phase on another call starts
    /// a budget of its own.
    pub fn start(allowed: Duration) -> Budget {
        let started = Instant::now();
        Budget { allowed, cpu_at_start: thread_cpu_time(), started, next_look: started + allowed }
    }

    /// The CPU time spent since the budget started.
    pub fn spent(&self) -> Duration {
        match (self.cpu_at_start, thread_cpu_time()) {
            (Some(start), Some(now)) => now.saturating_sub(start),
            _ => self.started.elapsed(),
        }
    }

    /// What is left of it.
    pub fn left(&self) -> Duration {
        self.allowed.saturating_sub(self.spent())
    }

    /// Whether it has been spent; cheap (the wall clock alone) until it could have been.
    pub fn exhausted(&mut self) -> bool {
        let now = Instant::now();
        if now < self.next_look {
            return false;
        }
        let left = self.left();
        self.next_look = now + left;
        left.is_zero()
    }
}

/// The CPU time the calling thread has used (`CLOCK_THREAD_CPUTIME_ID`), which the
/// standard library does not offer.
fn thread_cpu_time() -> Option<Duration> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec for the call's whole duration, and the
    // clock id is a constant every Unix kernel this builds for knows; on failure nothing
    // is read from it.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    (rc == 0).then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work the optimiser cannot drop, for about `cpu` of CPU time.
    fn burn(cpu: Duration) {
        let started = thread_cpu_time().unwrap();
        let mut x = 0u64;
        while thread_cpu_time().unwrap() - started < cpu {
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
    }

    #[test]
    fn time_the_thread_does_not_run_is_not_spent() {
        // The thread is off the CPU (as when the machine runs other programs) for twice the
        // budget: nothing is spent, the rules go on.
        let mut budget = Budget::start(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!budget.exhausted(), "spent {:?} while asleep", budget.spent());
        assert!(budget.left() > Duration::from_millis(10), "{:?}", budget.left());
    }

    #[test]
    fn the_rules_own_time_spends_it() {
        let mut budget = Budget::start(Duration::from_millis(20));
        burn(Duration::from_millis(10));
        assert!(!budget.exhausted(), "half spent: {:?}", budget.spent());
        burn(Duration::from_millis(15));
        assert!(budget.exhausted(), "spent {:?}", budget.spent());
        assert_eq!(budget.left(), Duration::ZERO);
    }

    #[test]
    fn other_threads_work_is_not_this_ones() {
        let mut budget = Budget::start(Duration::from_millis(20));
        std::thread::spawn(|| burn(Duration::from_millis(40))).join().unwrap();
        assert!(!budget.exhausted(), "spent {:?} while another thread worked", budget.spent());
    }
}
