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
    let name = "forecourt_ip_list_ranges";
    let _ = writeln!(out, "# HELP {name} Address ranges each list holds (after merging).\n# TYPE {name} gauge");
    for l in &all {
        let _ = writeln!(out, "{name}{{list=\"{}\"}} {}", l.name, l.set().len());
    }
    let feeds: Vec<_> = all.iter().filter_map(|l| l.feed.as_ref().map(|f| (l.name.as_str(), f))).collect();
    if feeds.is_empty() {
        return;
    }
    let name = "forecourt_ip_list_feed_fetches_total";
    let _ = writeln!(out, "# HELP {name} Fetches of each list's feed, by outcome.\n# TYPE {name} counter");
    for (list, f) in &feeds {
        for (outcome, n) in [("updated", &f.updated), ("unchanged", &f.unchanged), ("failed", &f.failed)] {
            let _ = writeln!(out, "{name}{{list=\"{list}\",outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
        }
    }
    let name = "forecourt_ip_list_feed_age_seconds";
    let _ = writeln!(out, "# HELP {name} Seconds since each feed's copy was last confirmed.\n# TYPE {name} gauge");
    for (list, f) in &feeds {
        if let Some(age) = f.age() {
            let _ = writeln!(out, "{name}{{list=\"{list}\"}} {}", age.as_secs());
        }
    }
}
