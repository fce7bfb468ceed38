//! The cache's part of `/metrics` (Prometheus text).
use crate::store::Store;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(store: &Store, out: &mut String) {
    let counters = store.routes();
    let _ = writeln!(out, "# HELP forecourt_cache_requests_total Requests to cached routes, by what the cache did.");
    let _ = writeln!(out, "# TYPE forecourt_cache_requests_total counter");
    for (route, c) in &counters {
        for (outcome, n) in [
            ("hit", &c.hit),
            ("miss", &c.miss),
            ("stale", &c.stale),
            ("revalidated", &c.revalidated),
            ("bypass", &c.bypass),
            ("collapsed", &c.collapsed),
        ] {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(out, "forecourt_cache_requests_total{{route=\"{route}\",outcome=\"{outcome}\"}} {n}");
        }
    }
    let (bytes, objects, bound, evictions) = store.memory_usage();
    let _ = writeln!(out, "# HELP forecourt_cache_bytes Bytes stored, by tier.\n# TYPE forecourt_cache_bytes gauge");
    let _ = writeln!(out, "forecourt_cache_bytes{{tier=\"memory\"}} {bytes}");
    let _ = writeln!(
        out,
        "# HELP forecourt_cache_capacity_bytes The bound of each tier.\n# TYPE forecourt_cache_capacity_bytes gauge"
    );
    let _ = writeln!(out, "forecourt_cache_capacity_bytes{{tier=\"memory\"}} {bound}");
    let _ = writeln!(out, "# HELP forecourt_cache_objects Keys stored, by tier.\n# TYPE forecourt_cache_objects gauge");
    let _ = writeln!(out, "forecourt_cache_objects{{tier=\"memory\"}} {objects}");
    let _ = writeln!(out, "# HELP forecourt_cache_evictions_total Entries evicted to stay within the bound.\n# TYPE forecourt_cache_evictions_total counter");
    let _ = writeln!(out, "forecourt_cache_evictions_total{{tier=\"memory\"}} {evictions}");
    let _ =
        writeln!(out, "# HELP forecourt_cache_purges_total Purges done.\n# TYPE forecourt_cache_purges_total counter");
    let _ = writeln!(out, "forecourt_cache_purges_total {}", store.purges());
}
