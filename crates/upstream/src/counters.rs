//! The pools' counters, shared by every worker's pool and the connections they open.
use std::sync::atomic::AtomicU64;

/// Process-wide pool counters, for metrics.
#[derive(Debug, Default)]
pub struct PoolCounters {
    pub reused: AtomicU64,
    pub opened: AtomicU64,
    pub connect_errors: AtomicU64,
}
