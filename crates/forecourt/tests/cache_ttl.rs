//! End-to-end: the freshness a route gives responses that carry none of their own —
//! `default_ttl` as one duration (statuses cacheable by default), or by status as nginx's
//! `proxy_cache_valid` (`{ 200 = "10m", 404 = "1m", 503 = "2s" }`, `any` for the rest),
//! which also stores statuses not cacheable by default when the operator lists them. A
//! response's own freshness still comes first, and `private`, `no-store` and cookies
//! still keep it out, as does an answer of Forecourt's own (a 502 for a dead origin).
//! `override_ttl` replaces a response's own freshness for the statuses it covers (a CDN's
//! "override origin"); `max_ttl` caps whatever lifetime a response gets.
use crate::common;

use common::cache_origin::CacheOrigin;
use common::*;
use std::time::Duration;

fn start(origin: &CacheOrigin) -> Forecourt {
    Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\npath = \"/listed/\"\nupstream = \"o\"\n\
         cache = {{ default_ttl = {{ 200 = \"1m\", 404 = \"30s\", 503 = \"2s\" }} }}\n\
         [[route]]\npath = \"/any/\"\nupstream = \"o\"\ncache = {{ default_ttl = {{ 404 = \"30s\", any = \"1m\" }} }}\n\
         [[route]]\npath = \"/one/\"\nupstream = \"o\"\ncache = {{ default_ttl = \"1m\" }}\n\
         [[route]]\npath = \"/capped/\"\nupstream = \"o\"\ncache = {{ default_ttl = \"1m\", max_ttl = \"2s\" }}\n\
         [[route]]\npath = \"/forced/\"\nupstream = \"o\"\ncache = {{ override_ttl = {{ 200 = \"1m\", 404 = \"10s\" }} }}\n\
         [[route]]\npath = \"/dead/\"\nupstream = \"dead\"\ncache = {{ default_ttl = {{ any = \"1m\" }} }}\n\
         [upstream.o]\nservers = [\"{}\"]\n[upstream.o.retry]\nattempts = 1\n\
         [upstream.dead]\nservers = [\"127.0.0.1:1\"]\n[upstream.dead.retry]\nattempts = 1\n",
        origin.addr
    ))
}

/// Fetches `path` twice: the second answer's status and `Cache-Status`, and how many
/// requests the origin saw for it.
async fn twice(fc: &Forecourt, origin: &CacheOrigin, path: &str) -> (u16, String, usize) {
    get(&fc.url(path)).await;
    let second = get(&fc.url(path)).await;
    (second.status, second.header("cache-status").to_string(), origin.hits(path))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_ttl_override_ttl_and_max_ttl_set_how_long_responses_stay_fresh() {
    let origin = CacheOrigin::start();
    let fc = start(&origin);

    for (path, status, ttl) in [
        ("/listed/ok", 200, 60),
        ("/listed/gone?status=404", 404, 30),
        ("/listed/down?status=503", 503, 2),
        ("/any/moved?status=302&loc=/elsewhere", 302, 60),
        ("/any/error?status=500", 500, 60),
        ("/any/missing?status=404", 404, 30),
        ("/one/ok", 200, 60),
    ] {
        let (got, cache_status, hits) = twice(&fc, &origin, path).await;
        assert_eq!((got, hits), (status, 1), "{path}: {cache_status}");
        assert!(cache_status.starts_with("Forecourt; hit; ttl="), "{path}: {cache_status}");
        let left: u64 = cache_status.rsplit("ttl=").next().unwrap().parse().unwrap();
        assert!(left <= ttl && left + 2 >= ttl, "{path}: {cache_status}, wanted about {ttl}");
    }

    // Not listed (and no `any`), or not cacheable by default under one duration: as
    // without a default_ttl, every request goes to the origin.
    for path in ["/listed/moved?status=302&loc=/elsewhere", "/listed/error?status=500", "/one/down?status=503"] {
        let (_, cache_status, hits) = twice(&fc, &origin, path).await;
        assert_eq!(hits, 2, "{path}: {cache_status}");
        assert!(cache_status.contains("detail=no-freshness"), "{path}: {cache_status}");
    }

    // The response's own freshness wins over the route's; what it forbids stays forbidden.
    let (_, own, _) = twice(&fc, &origin, "/any/own?status=404&cc=max-age%3D5").await;
    assert!(own.ends_with("ttl=5") || own.ends_with("ttl=4"), "{own}");
    for path in ["/any/private?cc=private", "/any/nostore?status=302&cc=no-store", "/any/cookie?sc=s%3D1"] {
        let (_, cache_status, hits) = twice(&fc, &origin, path).await;
        assert_eq!(hits, 2, "{path}: {cache_status}");
    }

    // `override_ttl` gives the statuses it covers its lifetime, whatever the response says
    // of its freshness, longer or shorter; it stores nothing that may not be stored.
    for (path, ttl) in [
        ("/forced/zero?cc=max-age%3D0", 60),
        ("/forced/validate?cc=no-cache", 60),
        ("/forced/expired?exp=0", 60),
        ("/forced/long?cc=max-age%3D3600", 60),
        ("/forced/gone?status=404&cc=max-age%3D0", 10),
        ("/forced/moved?status=302&loc=/x&cc=max-age%3D600", 600),
    ] {
        let (_, cache_status, hits) = twice(&fc, &origin, path).await;
        assert_eq!(hits, 1, "{path}: {cache_status}");
        let left: u64 = cache_status.rsplit("ttl=").next().unwrap().parse().unwrap();
        assert!(left <= ttl && left + 2 >= ttl, "{path}: {cache_status}, wanted about {ttl}");
    }
    for path in ["/forced/private?cc=private", "/forced/cookie?cc=max-age%3D60&sc=s%3D1", "/forced/nostore?cc=no-store"]
    {
        let (_, cache_status, hits) = twice(&fc, &origin, path).await;
        assert_eq!(hits, 2, "{path}: {cache_status}");
    }

    // Forecourt's own answer for an origin it cannot reach is not the origin's to keep.
    for _ in 0..2 {
        let dead = get(&fc.url("/dead/page")).await;
        assert_eq!(dead.status, 502, "{:?}", dead.headers);
        assert!(!dead.header("cache-status").contains("hit"), "{:?}", dead.headers);
        assert!(!dead.header("cache-status").contains("stored"), "{:?}", dead.headers);
    }

    // `max_ttl` caps every lifetime, the origin's own and default_ttl's, from receipt.
    let capped = ["/capped/long?cc=max-age%3D3600", "/capped/old?cc=max-age%3D3600&age=600", "/capped/none"];
    for path in capped {
        let (_, cache_status, hits) = twice(&fc, &origin, path).await;
        assert_eq!(hits, 1, "{path}: {cache_status}");
        assert!(cache_status.ends_with("ttl=2") || cache_status.ends_with("ttl=1"), "{path}: {cache_status}");
    }

    // A short lifetime for an error status runs out and the origin is asked again; so
    // does a capped one.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    for path in capped {
        let again = get(&fc.url(path)).await;
        assert_eq!(origin.hits(path), 2, "{path}: {:?}", again.headers);
    }
    let again = get(&fc.url("/listed/down?status=503")).await;
    assert_eq!(origin.hits("/listed/down?status=503"), 2, "{:?}", again.headers);
    assert!(again.header("cache-status").contains("stored; ttl=2"), "{:?}", again.headers);
}
