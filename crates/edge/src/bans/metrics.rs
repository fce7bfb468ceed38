//! The bans' part of `/metrics` (Prometheus text).
use super::registry::Bans;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(bans: &Bans, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP forecourt_bans_active Clients banned now.\n# TYPE forecourt_bans_active gauge\nforecourt_bans_active {}",
        bans.active()
    );
    let name = "forecourt_bans_total";
    let _ = writeln!(out, "# HELP {name} Bans started, by the rule that tripped (or api).\n# TYPE {name} counter");
    for rule in bans.rules() {
        let _ = writeln!(out, "{name}{{rule=\"{}\"}} {}", rule.name, rule.tripped.load(Ordering::Relaxed));
    }
    let _ = writeln!(out, "{name}{{rule=\"api\"}} {}", bans.added_by_api.load(Ordering::Relaxed));
    let name = "forecourt_ban_dry_run_trips_total";
    let _ = writeln!(out, "# HELP {name} Clients a rule in a dry run would have banned.\n# TYPE {name} counter");
    for rule in bans.rules().iter().filter(|r| r.spec.dry_run) {
        let _ = writeln!(out, "{name}{{rule=\"{}\"}} {}", rule.name, rule.would_have_banned.load(Ordering::Relaxed));
    }
    let name = "forecourt_ban_clients_tracked";
    let _ = writeln!(out, "# HELP {name} Clients with strikes counted by each rule.\n# TYPE {name} gauge");
    for rule in bans.rules() {
        let _ = writeln!(out, "{name}{{rule=\"{}\"}} {}", rule.name, rule.strikes.tracked());
    }
    let name = "forecourt_banned_requests_total";
    let _ = writeln!(
        out,
        "# HELP {name} Requests answered 403 because their client was banned.\n# TYPE {name} counter\n{name} {}",
        bans.refused_requests.load(Ordering::Relaxed)
    );
}
