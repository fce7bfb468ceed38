//! Passive health: a server that fails several requests in a row is ejected for a while
//! (outlier detection), longer each time it happens again, but never so many servers at
//! once that the rest of the upstream is overrun.
use std::time::Duration;

/// `[upstream.NAME.eject]`.
#[derive(Clone, Debug, PartialEq)]
pub struct EjectPolicy {
    /// Consecutive failures that eject a server ...
    pub failures: u32,
    /// ... when they all fall within this window.
    pub window: Duration,
    /// Response statuses that count as failures (connection errors and timeouts always do).
    pub statuses: Vec<u16>,
    /// The first ejection lasts this long; each further one twice the last.
    pub base: Duration,
    /// The longest ejection.
    pub max: Duration,
    /// At most this share of the upstream's servers is ejected at once.
    pub max_share: f64,
}

impl Default for EjectPolicy {
    fn default() -> Self {
        EjectPolicy {
            failures: 5,
            window: Duration::from_secs(10),
            statuses: vec![502, 503, 504],
            base: Duration::from_secs(10),
            max: Duration::from_secs(300),
            max_share: 0.5,
        }
    }
}

impl EjectPolicy {
    /// The ejection backoff starts over once a server has been well this long.
    pub fn quiet_period(&self) -> Duration {
        self.max
    }
}
