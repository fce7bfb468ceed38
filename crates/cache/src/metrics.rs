//! The cache's part of `/metrics` (Prometheus text).
use crate::disk::TierUsage;
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
    let mut tiers = vec![("memory", store.memory_usage())];
    tiers.extend(store.disk().map(|d| ("disk", d.usage())));
    for (name, help, pick) in [
        ("forecourt_cache_bytes", "Bytes stored, by tier.", (|u| u.bytes) as fn(&TierUsage) -> u64),
        ("forecourt_cache_capacity_bytes", "The bound of each tier.", |u| u.bound),
        ("forecourt_cache_objects", "Keys stored, by tier.", |u| u.objects),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (tier, usage) in &tiers {
            let _ = writeln!(out, "{name}{{tier=\"{tier}\"}} {}", pick(usage));
        }
    }
    let name = "forecourt_cache_evictions_total";
    let _ = writeln!(out, "# HELP {name} Entries evicted to stay within the bound.\n# TYPE {name} counter");
    for (tier, usage) in &tiers {
        let _ = writeln!(out, "{name}{{tier=\"{tier}\"}} {}", usage.evictions);
    }
    if let Some(disk) = store.disk() {
        let (corrupt, dropped, _, degraded) = disk.health();
        let _ = writeln!(out, "# HELP forecourt_cache_disk_corrupt_total Disk files found corrupt or cut short and dropped.\n# TYPE forecourt_cache_disk_corrupt_total counter");
        let _ = writeln!(out, "forecourt_cache_disk_corrupt_total {corrupt}");
        let _ = writeln!(out, "# HELP forecourt_cache_disk_writes_dropped_total Objects not written to disk (full disk, queue full, too large).\n# TYPE forecourt_cache_disk_writes_dropped_total counter");
        let _ = writeln!(out, "forecourt_cache_disk_writes_dropped_total {dropped}");
        let _ = writeln!(out, "# HELP forecourt_cache_disk_writable Whether the disk tier is storing (0 after a failed write, for 30 s).\n# TYPE forecourt_cache_disk_writable gauge");
        let _ = writeln!(out, "forecourt_cache_disk_writable {}", u8::from(!degraded));
    }
    let _ =
        writeln!(out, "# HELP forecourt_cache_purges_total Purges done, soft ones included.\n# TYPE forecourt_cache_purges_total counter");
    let _ = writeln!(out, "forecourt_cache_purges_total {}", store.purges());
    let _ = writeln!(out, "# HELP forecourt_cache_soft_purges_total Soft purges done (what they named made stale).\n# TYPE forecourt_cache_soft_purges_total counter");
    let _ = writeln!(out, "forecourt_cache_soft_purges_total {}", store.soft_purges());
}
