//! End-to-end: soft purges (`"soft": true` on `POST /api/cache/purge`, `Soft-Purge: 1` on
//! `PURGE`), which make what they name stale instead of removing it, as Fastly's soft
//! purge and Varnish's `purge.soft` do: the next request validates it with the origin (a
//! 304 brings no body), or is answered at once within `stale-while-revalidate`, or from it
//! while the origin fails; what the purge did not name stays fresh. On the disk tier too:
//! the files are rewritten stale, so that a restart does not bring them back fresh.
use crate::common;

use common::cache_admin::{disk_holds, purge};
use common::cache_origin::CacheOrigin;
use common::*;
use std::time::Duration;

/// A proxy with an admin port, PURGE allowed from loopback, `cache` with `stale_if_error`
/// on its one route, and `cache_section` (a disk tier); returns it and the admin base URL.
fn start(origin: &CacheOrigin, cache_section: &str) -> (Forecourt, String) {
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\n\
         [cache]\npurge_from = [\"127.0.0.1\"]\n{cache_section}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\n\
         cache = {{ stale_if_error = \"1h\" }}\n\
         [upstream.o]\nservers = [\"{}\"]\n[upstream.o.retry]\nattempts = 1\n",
        origin.addr
    ));
    wait_for_port(admin);
    (fc, format!("http://127.0.0.1:{admin}"))
}

/// Waits until the origin has seen `n` requests for `path`.
async fn origin_saw(origin: &CacheOrigin, path: &str, n: usize) -> bool {
    for _ in 0..250 {
        if origin.hits(path) >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_purge_makes_what_it_names_stale_and_keeps_it() {
    let origin = CacheOrigin::start();
    let (fc, admin) = start(&origin, "");
    let validated = "/s/a?cc=max-age%3D600&etag=%22a1%22&tag=news";
    let refreshed = "/s/b?cc=max-age%3D600%2C%20stale-while-revalidate%3D60&tag=news";
    let kept_for_errors = "/s/c?cc=max-age%3D600&tag=sports";
    let untouched = "/s/d?cc=max-age%3D600&tag=sports";
    let paths = [validated, refreshed, kept_for_errors, untouched];
    for path in paths {
        get(&fc.url(path)).await;
        let hit = get(&fc.url(path)).await;
        assert!(hit.header("cache-status").starts_with("Forecourt; hit"), "{path}: {:?}", hit.headers);
    }

    let done = purge(&admin, r#"{"tag": "news", "soft": true}"#).await;
    let said: serde_json::Value = serde_json::from_str(&done.body).unwrap();
    assert_eq!((done.status, said), (200, serde_json::json!({"tag": "news", "soft": true, "objects": 2})));

    // Validated with the origin, whose 304 keeps the stored body.
    let r = get(&fc.url(validated)).await;
    assert_eq!(r.body, "fetch 1 lang=-\n", "the stored body, not a second fetch");
    assert!(r.header("cache-status").contains("fwd=stale"), "{:?}", r.headers);
    assert_eq!(origin.hits(validated), 2, "one conditional request");
    let r = get(&fc.url(validated)).await;
    assert!(r.header("cache-status").starts_with("Forecourt; hit"), "fresh again after the 304: {:?}", r.headers);

    // Answered at once from the stale copy, refreshed behind it.
    let r = get(&fc.url(refreshed)).await;
    assert_eq!(r.body, "fetch 1 lang=-\n");
    assert!(r.header("cache-status").contains("detail=stale-while-revalidate"), "{:?}", r.headers);
    assert!(origin_saw(&origin, refreshed, 2).await, "the background refresh");
    let mut body = String::new();
    for _ in 0..50 {
        body = get(&fc.url(refreshed)).await.body;
        if body != "fetch 1 lang=-\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(body, "fetch 2 lang=-\n", "the refreshed copy");

    // Not named: still fresh.
    for path in [kept_for_errors, untouched] {
        let r = get(&fc.url(path)).await;
        assert!(r.header("cache-status").starts_with("Forecourt; hit"), "{path}: {:?}", r.headers);
        assert_eq!(origin.hits(path), 1, "{path}");
    }

    // What a soft purge is for: an origin that fails after it (a deploy gone wrong) is
    // covered by the stale copy, where a purge would have left nothing to serve.
    let done = purge(&admin, r#"{"url": "http://127.0.0.1/s/c?cc=max-age%3D600&tag=sports", "soft": true}"#).await;
    assert_eq!(done.status, 200, "{}", done.body);
    origin.fail(true);
    let r = get(&fc.url(kept_for_errors)).await;
    assert_eq!((r.status, r.body.as_str()), (200, "fetch 1 lang=-\n"));
    assert!(r.header("cache-status").contains("detail=stale-if-error"), "{:?}", r.headers);
    assert_eq!(origin.hits(kept_for_errors), 2, "the origin was asked, and failed");
    origin.fail(false);

    // PURGE with `Soft-Purge: 1`, from an address in purge_from.
    let req = http::Request::builder()
        .method("PURGE")
        .uri(fc.url(validated))
        .header("soft-purge", "1")
        .body(Default::default())
        .unwrap();
    let r = send(&client(), req).await;
    assert_eq!((r.status, r.body.as_str()), (200, "soft-purged\n"));
    let r = get(&fc.url(validated)).await;
    assert!(r.header("cache-status").contains("fwd=stale"), "{:?}", r.headers);
    assert_eq!((origin.hits(validated), r.body.as_str()), (3, "fetch 1 lang=-\n"));

    // `soft` must be a boolean; soft purges count as purges.
    let bad = purge(&admin, r#"{"all": true, "soft": "yes"}"#).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("\"soft\" is true or false"), "{}", bad.body);
    let api: serde_json::Value = serde_json::from_str(&get(&format!("{admin}/api/cache")).await.body).unwrap();
    assert_eq!((&api["purges"], &api["soft_purges"]), (&3.into(), &3.into()), "{api}");
    let metrics = get(&format!("{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_cache_soft_purges_total"), 3.0, "{metrics}");
    assert_eq!(api["memory"]["objects"], 4, "nothing was removed: {api}");
}

/// Objects only on disk (after a restart) are made stale too, and stay stale after another
/// restart: their files are rewritten, not just hidden while the process runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_purge_rewrites_the_disk_tier_files() {
    let origin = CacheOrigin::start();
    let section = "memory = \"8m\"\nmax_object = \"1m\"\ndisk = { path = \"{dir}/cache\", size = \"32m\" }";
    let (mut fc, admin) = start(&origin, section);
    let named = "/d/1?cc=max-age%3D600&etag=%22d1%22&tag=blue";
    let other = "/d/2?cc=max-age%3D600&etag=%22d2%22&tag=red";
    for path in [named, other] {
        get(&fc.url(path)).await;
    }
    assert!(disk_holds(&admin, 2).await, "both written");
    let restart = |fc: &mut Forecourt| {
        fc.restart();
        wait_for_port(admin.rsplit(':').next().unwrap().parse().unwrap());
    };
    restart(&mut fc);
    assert!(disk_holds(&admin, 2).await, "the disk tier indexed its two files");
    // Nothing in memory now: the purge finds the object in the disk's index alone.
    let done = purge(&admin, r#"{"tag": "blue", "soft": true}"#).await;
    assert_eq!(done.status, 200, "{}", done.body);
    restart(&mut fc);
    assert!(disk_holds(&admin, 2).await, "both files still there");

    let r = get(&fc.url(named)).await;
    assert!(r.header("cache-status").contains("fwd=stale"), "stale after a restart: {:?}", r.headers);
    assert_eq!((origin.hits(named), r.body.as_str()), (2, "fetch 1 lang=-\n"), "validated, its body kept");
    let r = get(&fc.url(other)).await;
    assert!(r.header("cache-status").starts_with("Forecourt; hit"), "{:?}", r.headers);
    assert_eq!(origin.hits(other), 1);
}
