//! Long inspections off the worker's thread. A worker serves all its connections on one
//! thread, so the rules' 170 ms on a 10 MiB upload stalled every other request of that
//! worker for as long (nginx + ModSecurity stalls its worker so, for a second per upload):
//! small GETs beside a stream of uploads waited 169 ms each. A body this long is judged
//! on tokio's blocking pool instead, while the worker goes on serving; at most one such
//! inspection per worker runs at a time (the workers are the CPUs the operator gave
//! Forecourt, and this is work a worker did itself), the rest wait for a turn without
//! holding a thread.
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// Bodies from this long are judged apart: below, the rules take a few milliseconds at
/// most, less than handing the work over would be worth.
pub const APART_FROM: usize = 256 << 10;

/// Runs `judge` on the blocking pool when its turn comes; None if it panicked.
pub async fn judge_apart<T: Send + 'static>(judge: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let turn = turns().clone().acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let judged = judge();
        drop(turn);
        judged
    })
    .await
    .ok()
}

/// The process's turns, shared by every worker and policy: one per worker. Set once, when
/// the workers start; a process that never sets it (a test) gets one per CPU.
static TURNS: OnceLock<Arc<Semaphore>> = OnceLock::new();

/// One turn per worker (`workers` as started; a later change needs a restart, as the
/// workers do).
pub fn set_turns(workers: usize) {
    let _ = TURNS.set(Arc::new(Semaphore::new(workers.max(1))));
}

fn turns() -> &'static Arc<Semaphore> {
    TURNS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Arc::new(Semaphore::new(cpus))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_work_runs_on_another_thread_and_comes_back() {
        let here = std::thread::current().id();
        let there = judge_apart(|| std::thread::current().id()).await;
        assert!(there.is_some_and(|id| id != here));
        assert_eq!(judge_apart(|| 6 * 7).await, Some(42));
    }

    #[tokio::test]
    async fn a_panic_is_none_and_gives_its_turn_back() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        for _ in 0..cpus + 1 {
            assert_eq!(judge_apart(|| -> u8 { panic!("a rule panicked") }).await, None);
        }
        assert_eq!(judge_apart(|| 1).await, Some(1), "every turn came back");
    }
}
