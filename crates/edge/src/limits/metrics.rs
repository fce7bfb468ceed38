//! The limits' part of `/metrics` (Prometheus text).
use super::registry::Registry;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(registry: &Registry, out: &mut String) {
    let limits = registry.all();
    let name = "forecourt_limit_requests_total";
    let _ =
        writeln!(out, "# HELP {name} Requests counted by each rate limit, by what it decided.\n# TYPE {name} counter");
    for l in &limits {
        let c = &l.counts;
        for (decision, n) in
            [("allowed", &c.allowed), ("delayed", &c.delayed), ("rejected", &c.rejected), ("dry_run", &c.dry_run)]
        {
            let _ =
                writeln!(out, "{name}{{limit=\"{}\",decision=\"{decision}\"}} {}", l.name, n.load(Ordering::Relaxed));
        }
    }
    let _ = writeln!(
        out,
        "# HELP forecourt_limit_keys Keys each rate limit tracks now.\n# TYPE forecourt_limit_keys gauge"
    );
    for l in &limits {
        let _ = writeln!(out, "forecourt_limit_keys{{limit=\"{}\"}} {}", l.name, l.usage().0);
    }
    let name = "forecourt_limit_untracked_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests let through untracked because the limit's table was full.\n# TYPE {name} counter"
    );
    for l in &limits {
        let _ = writeln!(out, "{name}{{limit=\"{}\"}} {}", l.name, l.usage().1);
    }
}
