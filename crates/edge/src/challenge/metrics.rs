//! The challenges' part of `/metrics` (Prometheus text).
use super::state::Challenges;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(c: &Challenges, out: &mut String) {
    let name = "forecourt_challenges_total";
    let _ = writeln!(out, "# HELP {name} Challenge pages issued, and puzzles passed or failed.\n# TYPE {name} counter");
    for (outcome, n) in [("issued", &c.issued), ("passed", &c.passed), ("failed", &c.failed)] {
        let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
    }
    let name = "forecourt_challenge_passes_accepted_total";
    let _ = writeln!(out, "# HELP {name} Requests let through by a pass.\n# TYPE {name} counter");
    let _ = writeln!(out, "{name} {}", c.admitted.load(Ordering::Relaxed));
    let name = "forecourt_challenge_under_attack";
    let _ = writeln!(out, "# HELP {name} 1 while every visitor without a pass is challenged.\n# TYPE {name} gauge");
    let _ = writeln!(out, "{name} {}", u8::from(c.under_attack()));
}
