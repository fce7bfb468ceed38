//! The cache across reloads: the disk tier is kept while its folder is; a reload refused
//! for an error anywhere in its file leaves the folder as the running tier has it; one
//! that is taken applies its new size. Without a disk tier, a reload that resizes the
//! memory tier carries its objects and counters over.
use crate::common;
use common::cache_admin::purge;
use common::cache_origin::CacheOrigin;
use common::*;
use std::path::Path;
use std::time::Duration;

/// The cache files under a disk tier's folder (one level of folders, as the tier lays
/// them out).
fn files_under(folder: &Path) -> usize {
    let Ok(folders) = std::fs::read_dir(folder) else { return 0 };
    let inner = folders.flatten().filter(|f| f.path().is_dir()).filter_map(|f| std::fs::read_dir(f.path()).ok());
    inner.flatten().flatten().filter(|f| f.path().extension().is_none()).count()
}

/// A reload that changes the memory tier's bound keeps the disk tier as it runs (no second
/// scan; its files answer the new store's first requests). A reload to a smaller tier
/// refused for an error further down the file (a route naming an unknown upstream) evicts
/// nothing. The same reload without the error is taken: the tier, still not scanned
/// again, evicts down to its new size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_keep_the_disk_tier_or_leave_its_folder_alone() {
    let origin = CacheOrigin::start();
    let config_with = |memory: &str, size: &str, upstream: &str| {
        format!(
            "[global]\nworkers = 2\n[cache]\nmemory = \"{memory}\"\nmax_object = \"1m\"\n\
             disk = {{ path = \"{{dir}}/cache\", size = \"{size}\" }}\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
             [[route]]\nupstream = \"{upstream}\"\ncache = true\n[upstream.o]\nservers = [\"{}\"]\n",
            origin.addr
        )
    };
    let config = |size: &str, upstream: &str| config_with("8m", size, upstream);
    let fc = Forecourt::start(&config("32m", "o"));
    let folder = Path::new(&fc.dir.path("cache")).to_path_buf();
    for i in 0..8 {
        assert_eq!(get(&fc.url(&format!("/kept/{i}?cc=max-age%3D600&size=200000"))).await.status, 200);
    }
    assert!(eventually(Duration::from_secs(5), || files_under(&folder) == 8), "{}", files_under(&folder));

    let scans = || fc.stderr().matches("cache disk loaded").count();
    fc.rewrite(&config_with("16m", "32m", "o"));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reloaded")), "{}", fc.stderr());
    let first = "/kept/0?cc=max-age%3D600&size=200000";
    let r = get(&fc.url(first)).await;
    assert!(r.header("cache-status").starts_with("Forecourt; hit"), "from the disk tier: {:?}", r.headers);
    assert_eq!((origin.hits(first), scans()), (1, 1), "the disk tier kept, not scanned again");

    fc.rewrite(&config("1m", "nope"));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reload refused")), "{}", fc.stderr());
    // Time for a scan of the refused config's tier, had it been started, to evict.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(files_under(&folder), 8, "a refused reload evicted files:\n{}", fc.stderr());

    fc.rewrite(&config("1m", "o"));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || files_under(&folder) <= 5), "{}", files_under(&folder));
    assert_eq!(scans(), 1, "the tier kept, with its new size: no second scan");
}

/// A reload that changes `memory` and `max_object` (a new memory tier) keeps serving the
/// objects the tier before held, as hits, without asking the origin, and the routes'
/// counters go on; what no longer fits `max_object` is fetched again. A purge after the
/// reload removes a carried object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_resizes_the_memory_tier_keeps_its_objects() {
    let origin = CacheOrigin::start();
    let admin = free_port();
    let config = |memory: &str, max_object: &str| {
        format!(
            "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\n[cache]\nmemory = \"{memory}\"\nmax_object = \"{max_object}\"\n\
             [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\ncache = true\n\
             [upstream.o]\nservers = [\"{}\"]\n",
            origin.addr
        )
    };
    let fc = Forecourt::start(&config("8m", "1m"));
    let (small, large) = ("/small?cc=max-age%3D600&size=1000", "/large?cc=max-age%3D600&size=600000");
    for path in [small, large] {
        for _ in 0..2 {
            assert_eq!(get(&fc.url(path)).await.status, 200);
        }
        assert_eq!(origin.hits(path), 1, "{path} stored");
    }
    let hits = || async {
        let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
        metric(&metrics, "forecourt_cache_requests_total{route=\"route#1\",outcome=\"hit\"}")
    };
    assert_eq!(hits().await, 2.0);

    fc.rewrite(&config("16m", "512k"));
    fc.signal(libc::SIGHUP);
    let carried = || fc.stderr().contains("cache objects carried over to the new memory tier objects=1 ");
    assert!(eventually(Duration::from_secs(5), carried), "{}", fc.stderr());
    let r = get(&fc.url(small)).await;
    assert!(r.header("cache-status").starts_with("Forecourt; hit"), "carried over: {:?}", r.headers);
    assert_eq!(origin.hits(small), 1);
    assert_eq!(hits().await, 3.0, "the route's counters go on");
    assert_eq!(get(&fc.url(large)).await.status, 200);
    assert_eq!(origin.hits(large), 2, "over the new max_object: not carried");

    assert_eq!(purge(&format!("http://127.0.0.1:{admin}"), &format!(r#"{{"url": "{small}"}}"#)).await.status, 200);
    assert!(!get(&fc.url(small)).await.header("cache-status").starts_with("Forecourt; hit"));
    assert_eq!(origin.hits(small), 2);
}
