//! Connections closed at accept, by reason, for the whole process (kept across reloads).
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Refusals {
    pub ip_list: AtomicU64,
    pub max_connections: AtomicU64,
    pub per_ip: AtomicU64,
    pub rate: AtomicU64,
    pub banned: AtomicU64,
}

impl Refusals {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// `forecourt_connections_refused_total{reason}`.
    pub fn render(&self, out: &mut String) {
        let name = "forecourt_connections_refused_total";
        let _ = writeln!(out, "# HELP {name} Connections closed at accept, by reason.\n# TYPE {name} counter");
        for (reason, n) in [
            ("ip_list", &self.ip_list),
            ("max_connections", &self.max_connections),
            ("max_connections_per_ip", &self.per_ip),
            ("new_connections_per_ip", &self.rate),
            ("banned", &self.banned),
        ] {
            let _ = writeln!(out, "{name}{{reason=\"{reason}\"}} {}", n.load(Ordering::Relaxed));
        }
    }
}
