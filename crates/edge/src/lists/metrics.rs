//! The lists' part of `/metrics` (Prometheus text).
use super::registry::Lists;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(lists: &Lists, out: &mut String) {
    let all = lists.all();
    let name = "forecourt_ip_list_hits_total";
    let _ = writeln!(out, "# HELP {name} Connections or requests each list matched.\n# TYPE {name} counter");
    for l in &all {
        let _ = writeln!(out, "{name}{{list=\"{}\"}} {}", l.name, l.hits.load(Ordering::Relaxed));
    }
    let _ = writeln!(out, "# HELP forecourt_ip_list_ranges Address ranges each list holds (after merging).\n# TYPE forecourt_ip_list_ranges gauge");
    for l in &all {
        let _ = writeln!(out, "forecourt_ip_list_ranges{{list=\"{}\"}} {}", l.name, l.set.len());
    }
}
