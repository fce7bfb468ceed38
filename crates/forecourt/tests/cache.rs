//! End-to-end: the HTTP cache (`cache = true`) between a real client and a scripted
//! origin (`common/cache_origin.rs`), through the real binary: what is stored and served,
//! validation, variants, stale serving, coalescing, invalidation and purges.
use crate::common;

use common::cache_origin::{page, CacheOrigin};
use common::*;
use std::time::{Duration, Instant};

/// A proxy with two workers and an admin port, `cache` on its one route; returns it and
/// the admin base URL.
pub(crate) fn start(origin: &CacheOrigin, route_cache: &str, cache_section: &str) -> (Forecourt, String) {
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"{{dir}}/access.log\"\n{cache_section}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\ncache = {route_cache}\n\
         [upstream.o]\nservers = [\"{}\"]\n[upstream.o.retry]\nattempts = 1\n",
        origin.addr
    ));
    wait_for_port(admin);
    (fc, format!("http://127.0.0.1:{admin}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_responses_are_served_from_the_cache_with_age_and_cache_status() {
    let origin = CacheOrigin::start();
    let (fc, admin) = start(&origin, "true", "");
    let path = "/a?cc=max-age%3D60";
    let first = get(&fc.url(path)).await;
    assert_eq!(first.header("cache-status"), "Forecourt; fwd=uri-miss; fwd-status=200; stored; ttl=60");
    let second = get(&fc.url(path)).await;
    assert_eq!(second.body, first.body);
    assert!(second.header("cache-status").starts_with("Forecourt; hit; ttl="), "{:?}", second.headers);
    assert!(second.header("age").parse::<u64>().is_ok(), "{:?}", second.headers);
    assert_eq!(origin.hits(path), 1);
    // HEAD from the stored GET, a client's conditional request answered 304, a range 206.
    let head = send(&client(), http::Request::head(fc.url(path)).body(Default::default()).unwrap()).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(head.header("content-length"), first.body.len().to_string());
    let part = get_with(&fc.url(path), &[("range", "bytes=0-4")]).await;
    assert_eq!((part.status, part.body.as_str(), part.header("content-range")), (206, "fetch", "bytes 0-4/15"));
    assert_eq!(origin.hits(path), 1, "HEAD and ranges are served from the stored GET");
    let metrics = get(&format!("{admin}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_cache_requests_total{route=\"route#1\",outcome=\"hit\"}") >= 3.0, "{metrics}");
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    assert!(log.contains("\"cache\":\"miss\"") && log.contains("\"cache\":\"hit\""), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_shared_cache_must_not_store_is_not_stored() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    for (path, headers, why) in [
        ("/p?cc=private%2C%20max-age%3D60", &[][..], "private"),
        ("/n?cc=no-store", &[][..], "no-store"),
        ("/f", &[][..], "no-freshness"),
        ("/c?sc=session%3D1&cc=no-cache", &[][..], "set-cookie"),
        ("/z?cc=max-age%3D60", &[("authorization", "Basic eDp5")][..], "authorization"),
        ("/q?cc=max-age%3D60", &[("cache-control", "no-store")][..], "no-store"),
    ] {
        let r = get_with(&fc.url(path), headers).await;
        assert!(r.header("cache-status").ends_with(&format!("detail={why}")), "{path}: {:?}", r.headers);
        get_with(&fc.url(path), headers).await;
        assert_eq!(origin.hits(path), 2, "{path} was stored");
    }
    // Authorization with public, and a targeted field that overrides Cache-Control.
    for path in ["/pub?cc=public%2C%20max-age%3D60", "/cdn?cc=private&cdn=max-age%3D60"] {
        for _ in 0..2 {
            get_with(&fc.url(path), &[("authorization", "Basic eDp5")]).await;
        }
        assert_eq!(origin.hits(path), 1, "{path} is stored");
    }
}

/// Details the RFC 9111 conformance suite (http-tests/cache-tests) checks: Age lists,
/// dates in any format, qualified no-cache, must-understand, Set-Cookie, unknown unsafe
/// methods, garbled targeted fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_conformance_suite_checks() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    let twice = |path: &'static str| {
        let url = fc.url(path);
        async move { (get(&url).await, get(&url).await) }
    };
    for (path, stored) in [
        ("/age?cc=max-age%3D3600&age=7200%2C%200", false), // the first value: already stale
        ("/asctime?exp=Thu%20Aug%20%208%2002%3A01%3A18%202050", true),
        ("/imf-case?exp=THU%2C%2018%20AUG%202050%2002%3A01%3A18%20gmt", true),
        ("/utc?exp=Thu%2C%2018%20Aug%202050%2002%3A01%3A18%20UTC", false),
        ("/mu?cc=max-age%3D60%2C%20no-store%2C%20must-understand", true),
        ("/mu599?status=599&cc=max-age%3D60%2C%20no-store%2C%20must-understand", false),
        ("/cookie?cc=max-age%3D60&sc=a%3Db", true),
        ("/cdn-garbled?cc=no-store&cdn=max-age%3D60%2C%20%26%26", false),
        ("/cdn-string?cc=no-store&cdn=max-age%3D%2260%22", false),
    ] {
        let (_, second) = twice(path).await;
        assert_eq!(origin.hits(path), if stored { 1 } else { 2 }, "{path}: {:?}", second.headers);
    }
    let (_, hit) = twice("/cookie2?cc=max-age%3D60&sc=a%3Db").await;
    assert_eq!(hit.header("set-cookie"), "a=b", "a stored response keeps its Set-Cookie");
    // A qualified no-cache stores the response without the fields it names.
    let (first, hit) = twice("/nc?cc=no-cache%3D%22x-extra%22%2C%20max-age%3D60&x=1").await;
    assert_eq!((first.header("x-extra"), hit.header("x-extra")), ("1", ""), "{:?}", hit.headers);
    assert!(hit.header("cache-status").contains("hit"), "{:?}", hit.headers);
    // Any method not known to be safe invalidates, an unknown one too.
    let path = "/unknown-method?cc=max-age%3D60";
    get(&fc.url(path)).await;
    let m_search = http::Request::builder().method("M-SEARCH").uri(fc.url(path)).body(Default::default()).unwrap();
    assert_eq!(send(&client(), m_search).await.status, 200);
    assert!(get(&fc.url(path)).await.header("cache-status").contains("fwd=uri-miss"));
    assert_eq!(origin.hits(path), 3);
    // store_set_cookie = false: only responses that say they may be shared.
    let (cautious, _) = start(&origin, "{ store_set_cookie = false }", "");
    for (path, hits) in [("/c1?cc=max-age%3D60&sc=a%3Db", 2), ("/c2?cc=s-maxage%3D60&sc=a%3Db", 1)] {
        get(&cautious.url(path)).await;
        get(&cautious.url(path)).await;
        assert_eq!(origin.hits(path), hits, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_validation_and_invalidation() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    let path = "/v?cc=max-age%3D60&vary=Accept-Language";
    let en = get_with(&fc.url(path), &[("accept-language", "en")]).await;
    let fr = get_with(&fc.url(path), &[("accept-language", "fr")]).await;
    assert!(fr.header("cache-status").contains("fwd=vary-miss"), "{:?}", fr.headers);
    assert_eq!(get_with(&fc.url(path), &[("accept-language", "en")]).await.body, en.body);
    assert_eq!(get_with(&fc.url(path), &[("accept-language", "fr")]).await.body, fr.body);
    assert_eq!(origin.hits(path), 2);

    // no-cache: validated each time; the 304 refreshes, the client gets the stored body.
    let path = "/e?cc=no-cache&etag=%22v1%22";
    let first = get(&fc.url(path)).await;
    let again = get(&fc.url(path)).await;
    assert_eq!(again.body, first.body);
    assert!(again.header("cache-status").contains("fwd=stale; fwd-status=304"), "{:?}", again.headers);
    let cond = get_with(&fc.url(path), &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(cond.status, 304);

    // A HEAD validating a stale response goes as a HEAD; its 200, describing the stored
    // response, updates it (RFC 9111 §4.3.5): the next GET is a hit.
    let path = "/hs?cc=max-age%3D2";
    get(&fc.url(path)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let head = send(&client(), http::Request::head(fc.url(path)).body(Default::default()).unwrap()).await;
    assert_eq!(head.status, 200);
    assert!(head.header("cache-status").contains("fwd=stale; fwd-status=200"), "{:?}", head.headers);
    assert!(get(&fc.url(path)).await.header("cache-status").starts_with("Forecourt; hit"));
    assert_eq!(origin.hits(path), 2);

    // A POST invalidates the URI; a GET after it goes to the origin.
    let path = "/i?cc=max-age%3D60";
    get(&fc.url(path)).await;
    let post = send(&client(), http::Request::post(fc.url(path)).body(Default::default()).unwrap()).await;
    assert_eq!(post.header("cache-status"), "Forecourt; fwd=method; fwd-status=200");
    assert!(get(&fc.url(path)).await.header("cache-status").contains("fwd=uri-miss"));
    assert_eq!(origin.hits(path), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_is_served_on_errors_and_while_revalidating() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    let sie = "/sie?cc=max-age%3D1%2C%20stale-if-error%3D60";
    let first = get(&fc.url(sie)).await;
    let swr = "/swr?cc=max-age%3D1%2C%20stale-while-revalidate%3D60";
    get(&fc.url(swr)).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The origin answers 503: the stale copy is served instead.
    origin.fail(true);
    let r = get(&fc.url(sie)).await;
    assert_eq!((r.status, &r.body), (200, &first.body));
    assert!(r.header("cache-status").contains("fwd-status=503") && r.header("cache-status").contains("stale-if-error"));
    origin.fail(false);

    // Stale within stale-while-revalidate: answered at once, refreshed behind.
    let started = Instant::now();
    let r = get(&fc.url(swr)).await;
    assert!(r.header("cache-status").contains("detail=stale-while-revalidate"), "{:?}", r.headers);
    assert_eq!(r.body, "fetch 1 lang=-\n");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(eventually(Duration::from_secs(3), || origin.hits(swr) == 2), "the background refresh reached the origin");
    assert!(body_becomes(&fc.url(swr), "fetch 2 lang=-\n").await, "the refreshed copy is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_covers_a_dead_origin() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    let path = "/dead?cc=max-age%3D1%2C%20stale-if-error%3D60";
    let first = get(&fc.url(path)).await;
    drop(origin);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = get(&fc.url(path)).await;
    assert_eq!((r.status, &r.body), (200, &first.body), "{:?}", r.headers);
    assert!(r.header("cache-status").contains("detail=stale-if-error"), "{:?}", r.headers);
}

/// 200 concurrent requests for one slow object (1 s) whose cacheability is known only
/// when it is answered reach the origin once, and all are answered about when it is.
/// One that turns out private releases its waiters at once: each goes upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_reach_the_origin_once() {
    let origin = CacheOrigin::start();
    let (fc, admin) = start(&origin, "true", "");
    for (path, expected_hits) in [("/slow?cc=max-age%3D60&ms=1000", 1), ("/private?cc=private&ms=1000", 50)] {
        let n = if expected_hits == 1 { 200 } else { 50 };
        let started = Instant::now();
        let url = fc.url(path);
        let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(get(Box::leak(url.clone().into_boxed_str())))).collect();
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status, 200);
            assert!(r.body.starts_with("fetch "), "{}", r.body);
        }
        assert_eq!(origin.hits(path), expected_hits, "{path}");
        assert!(started.elapsed() < Duration::from_millis(3500), "{path}: {:?}", started.elapsed());
    }
    let metrics = get(&format!("{admin}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_cache_requests_total{route=\"route#1\",outcome=\"collapsed\"}") >= 199.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_remove_urls_prefixes_patterns_tags_and_everything() {
    let origin = CacheOrigin::start();
    let (fc, admin) = start(&origin, "true", "");
    let paths = ["/x/1?cc=max-age%3D60&tag=red", "/x/2?cc=max-age%3D60&tag=blue%20red", "/y/3?cc=max-age%3D60"];
    let fill = || async {
        for p in paths {
            let r = get(&fc.url(p)).await;
            assert_eq!(r.header("cache-tag"), "", "tags are not shown to clients");
        }
    };
    let purge = |body: &'static str| {
        let url = format!("{admin}/api/cache/purge");
        async move {
            let req = http::Request::post(url).body(body.as_bytes().to_vec().into()).unwrap();
            send(&client(), req).await
        }
    };
    fill().await;
    let hits = |o: &CacheOrigin| paths.map(|p| o.hits(p));
    assert_eq!(hits(&origin), [1, 1, 1]);
    assert_eq!(purge("{\"tag\":\"red\"}").await.status, 200);
    fill().await;
    assert_eq!(hits(&origin), [2, 2, 1], "a tag purge removes every object that carried it");
    purge("{\"prefix\":\"http://127.0.0.1/y/\"}").await;
    fill().await;
    assert_eq!(hits(&origin), [2, 2, 2]);
    purge("{\"url\":\"http://127.0.0.1/x/1?cc=max-age%3D60&tag=red\"}").await;
    fill().await;
    assert_eq!(hits(&origin), [3, 2, 2]);
    purge(r#"{"regex":"^http://127\\.0\\.0\\.1/x/[0-9]\\?.*tag=blue"}"#).await;
    fill().await;
    assert_eq!(hits(&origin), [3, 3, 2], "a regular expression purges the URLs it finds a match in");
    purge("{\"all\":true}").await;
    fill().await;
    assert_eq!(hits(&origin), [4, 4, 3]);
    assert_eq!(purge("{\"nothing\":1}").await.status, 400);
    let bad = purge(r#"{"regex":"(unclosed"}"#).await;
    assert!(bad.status == 400 && bad.body.contains("bad regular expression"), "{}", bad.body);
    let api: serde_json::Value = serde_json::from_str(&get(&format!("{admin}/api/cache")).await.body).unwrap();
    assert_eq!(api["memory"]["objects"], 3, "{api}");
    assert_eq!((&api["purges"], &api["soft_purges"]), (&5.into(), &0.into()), "{api}");
    assert!(api["top_keys"].as_array().is_some_and(|k| k.len() == 3), "{api}");
    // A URL named as typed purges what requests for it stored, escaped as browsers send it.
    let seen = "/z/%E6%9D%B1%E4%BA%AC?cc=max-age%3D60";
    get(&fc.url(seen)).await;
    get(&fc.url(seen)).await;
    assert_eq!(origin.hits(seen), 1);
    assert_eq!(purge("{\"url\":\"http://127.0.0.1/z/東京?cc=max-age%3D60\"}").await.status, 200);
    get(&fc.url(seen)).await;
    assert_eq!(origin.hits(seen), 2, "purged");
}

/// Memory stays within its bound whatever the keys: 8 MiB of distinct objects through a
/// 2 MiB cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_tier_stays_within_its_bound() {
    let origin = CacheOrigin::start();
    let (fc, admin) = start(&origin, "{ default_ttl = \"1m\" }", "[cache]\nmemory = \"2m\"\nmax_object = \"1m\"");
    // Each object: its query pads the origin's answer? No: the body is small; the key is
    // long, and the bound counts keys and headers too.
    let pad = "p".repeat(4000);
    for i in 0..2000 {
        let r = get(&fc.url(&format!("/m/{i}?pad={pad}"))).await;
        assert_eq!(r.status, 200);
    }
    let api: serde_json::Value = serde_json::from_str(&get(&format!("{admin}/api/cache")).await.body).unwrap();
    let bytes = api["memory"]["bytes"].as_u64().unwrap();
    assert!(bytes <= 2 << 20, "{api}");
    assert!(api["memory"]["evictions"].as_u64().unwrap() > 0, "{api}");
}

/// A bad `[cache]` or route option fails `forecourt check` with file:line:col.
#[test]
fn bad_cache_options_point_at_the_mistake() {
    let dir = TempDir::new("cache-check");
    let path = dir.file(
        "bad.toml",
        "[cache]\nmemory = \"2x\"\n[[listen]]\naddr = \"127.0.0.1:1\"\n[[route]]\nupstream = \"o\"\n\
         cache = { default_ttl = \"1q\", key = { query = \"zz\" } }\n[upstream.o]\nservers = [\"127.0.0.1:2\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("bad.toml:2:10: bad size `2x`"), "{text}");
    assert!(text.contains("bad.toml:7:25: bad duration `1q`"), "{text}");
    assert!(text.contains("bad.toml:7:47: unknown key query mode `zz`"), "{text}");
    // A disk folder that cannot be made (its parent is a file).
    let file = dir.file("plain", "not a folder");
    let path = dir.file(
        "disk.toml",
        &format!(
            "[cache]\ndisk = {{ path = \"{file}/cache\", size = \"1m\" }}\n[[route]]\nrespond = {{ status = 200 }}\n"
        ),
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("disk.toml:2:17: cannot use") && text.contains("Not a directory"), "{text}");
    assert!(text.contains("disk.toml:2:") && text.contains("the disk tier is smaller than max_object"), "{text}");
    let path =
        dir.file("cidr.toml", "[cache]\npurge_from = [\"10.0.0.0/33\"]\n[[route]]\nrespond = { status = 200 }\n");
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("cidr.toml:2:15: bad purge_from entry"), "{text}");
    let path = dir.file("unknown.toml", "[[route]]\nrespond = { status = 200 }\ncache = { bogus = 1 }\n");
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("unknown.toml:3:11: unknown field `bogus`"), "{text}");
}

/// `PURGE` from an address in `purge_from` removes the URL (every variant); from any other
/// address it gets 403 and removes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_method_works_from_allowed_addresses_only() {
    let origin = CacheOrigin::start();
    let purge = |url: String| async move {
        send(&client(), http::Request::builder().method("PURGE").uri(url).body(Default::default()).unwrap()).await
    };
    let (allowed, _admin) = start(&origin, "true", "[cache]\npurge_from = [\"127.0.0.0/8\"]");
    let path = "/purge-me?cc=max-age%3D600";
    get(&allowed.url(path)).await;
    get(&allowed.url(path)).await;
    assert_eq!(origin.hits(path), 1);
    let r = purge(allowed.url(path)).await;
    assert_eq!((r.status, r.body.as_str()), (200, "purged\n"));
    get(&allowed.url(path)).await;
    assert_eq!(origin.hits(path), 2, "purged, so fetched again");

    let (refused, _admin) = start(&origin, "true", "[cache]\npurge_from = [\"10.0.0.0/8\"]");
    let other = "/keep-me?cc=max-age%3D600";
    get(&refused.url(other)).await;
    let r = purge(refused.url(other)).await;
    assert_eq!(r.status, 403, "{}", r.body);
    get(&refused.url(other)).await;
    assert_eq!(origin.hits(other), 1, "a refused PURGE removes nothing and never reaches the origin");
}

/// The client whose request leads a fetch goes away mid-body: the fetch goes on, the
/// requests that followed it get the whole body, and it is stored; the origin sees one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_are_not_cut_when_the_leading_client_leaves() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    let path = "/stream?cc=max-age%3D600&events=6&gap_ms=150";
    let url = fc.url(path);
    let mut leader = tokio::net::TcpStream::connect(fc.addr()).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    leader.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await.unwrap();
    let mut first = [0u8; 512];
    let n = leader.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let followers: Vec<_> = (0..5).map(|_| tokio::spawn(get(Box::leak(url.clone().into_boxed_str())))).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(leader);
    for f in followers {
        let r = f.await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body.matches("data: event").count(), 6, "a follower got all of it");
    }
    let again = get(&url).await;
    assert!(again.header("cache-status").starts_with("Forecourt; hit"), "{:?}", again.headers);
    assert_eq!(origin.hits(path), 1);
}

/// A large stored body (kept in a memory file, sent with sendfile on plain HTTP/1) comes
/// back byte for byte, whole and as a range, and over HTTP/2 too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_hits_are_the_origins_bytes() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    let path = "/large?cc=max-age%3D600&size=200000&ct=text/html";
    let first = get(&fc.url(path)).await;
    assert_eq!(first.body, page(200000));
    for _ in 0..3 {
        let hit = get(&fc.url(path)).await;
        assert!(hit.header("cache-status").starts_with("Forecourt; hit"), "{:?}", hit.headers);
        assert_eq!(hit.body, first.body);
    }
    let part = get_with(&fc.url(path), &[("range", "bytes=100000-100099")]).await;
    assert_eq!((part.status, part.body.as_str()), (206, &first.body[100000..100100]));
    let h2 = send(&h2c_client(), http::Request::get(fc.url(path)).body(Default::default()).unwrap()).await;
    assert_eq!(h2.body, first.body);
    assert_eq!(origin.hits(path), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_asked_with_the_clients_validators_fills_the_cache() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    // A browser revalidating its copy of something the cache does not hold: the origin
    // judges its validators. A current copy: the origin's 304, nothing stored.
    let path = "/c?cc=max-age%3D60&etag=%22v2%22";
    let current = get_with(&fc.url(path), &[("if-none-match", "\"v2\"")]).await;
    assert_eq!((current.status, current.header("etag")), (304, "\"v2\""), "{:?}", current.headers);
    assert!(current.header("cache-status").contains("fwd-status=304"), "{:?}", current.headers);
    // An outdated copy (the object changed, then was purged): the origin's 200, stored.
    let outdated = get_with(&fc.url(path), &[("if-none-match", "\"v1\"")]).await;
    assert_eq!((outdated.status, outdated.header("etag")), (200, "\"v2\""));
    assert!(outdated.header("cache-status").contains("stored"), "{:?}", outdated.headers);
    let plain = hit_soon(&fc.url(path)).await;
    assert_eq!(plain.body, outdated.body);
    // A current copy is now answered from the cache.
    assert_eq!(get_with(&fc.url(path), &[("if-none-match", "\"v2\"")]).await.status, 304);
    assert_eq!(origin.hits(path), 2);

    // A video's first request (`Range: bytes=0-`) fills the cache; later ranges are hits.
    let video = "/v.mp4?cc=max-age%3D60";
    let first = get_with(&fc.url(video), &[("range", "bytes=0-")]).await;
    assert_eq!(first.status, 200);
    assert!(first.header("cache-status").contains("stored"), "{:?}", first.headers);
    let part = get_with(&fc.url(video), &[("range", "bytes=0-4")]).await;
    assert_eq!((part.status, part.body.as_str()), (206, "fetch"));
    assert_eq!(origin.hits(video), 1);
    // A range further in, on a miss, is asked as the whole (as nginx and Varnish ask it):
    // the client gets its part as a 206, the rest is read on into the store, and later
    // ranges are hits.
    let far = "/far.mp4?cc=max-age%3D60&size=300000";
    let whole = get(&format!("http://{}{far}", origin.addr)).await.body;
    let ranged = get_with(&fc.url(far), &[("range", "bytes=10-19")]).await;
    assert_eq!((ranged.status, ranged.header("content-range")), (206, "bytes 10-19/300000"), "{:?}", ranged.headers);
    assert_eq!(ranged.body, whole[10..20]);
    assert!(ranged.header("cache-status").contains("stored"), "{:?}", ranged.headers);
    let end = hit_soon_with(&fc.url(far), &[("range", "bytes=299990-")]).await;
    assert_eq!((end.status, end.body.as_str()), (206, &whole[299990..]));
    assert_eq!(get(&fc.url(far)).await.body, whole);
    assert_eq!(origin.hits(far), 2, "the test's own request and the cache's");
    // Past the end: 416, the whole stored all the same.
    let short = "/short?cc=max-age%3D60";
    let past = get_with(&fc.url(short), &[("range", "bytes=1000-")]).await;
    assert_eq!((past.status, past.header("content-range")), (416, "bytes */15"), "{:?}", past.headers);
    assert!(hit_soon(&fc.url(short)).await.body.starts_with("fetch 1"));
    // A suffix range (the end of an object whose length is not known yet) goes as it is.
    let tail = "/tail?cc=max-age%3D60";
    let ranged = get_with(&fc.url(tail), &[("range", "bytes=-5")]).await;
    assert!(!ranged.header("cache-status").contains("stored"), "{:?}", ranged.headers);
    assert!(get(&fc.url(tail)).await.header("cache-status").contains("uri-miss"));
    // An object that is not stored (private): its first range is asked as the whole and
    // cut from it; for a while after, its ranges go as they are, not as the whole again
    // (this origin ignores ranges: it answers the whole, which the client then gets).
    let kept_out = "/kept-out.mp4?cc=private&size=300000";
    let first = get_with(&fc.url(kept_out), &[("range", "bytes=100-109")]).await;
    assert_eq!((first.status, first.body.len()), (206, 10), "{:?}", first.headers);
    let next = get_with(&fc.url(kept_out), &[("range", "bytes=100-109")]).await;
    assert_eq!((next.status, next.body.len()), (200, 300_000), "{:?}", next.headers);

    // Conditional requests follow a fetch in progress (they never lead one: their answer
    // may be a 304): one origin request for all.
    let slow = "/s?cc=max-age%3D60&etag=%22v1%22&ms=500";
    let url: &'static str = Box::leak(fc.url(slow).into_boxed_str());
    let leading = tokio::spawn(get(url));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let validator = ["\"v1\"", "\"v0\"", ""][i % 3];
            tokio::spawn(async move {
                match validator {
                    "" => get(url).await,
                    v => get_with(url, &[("if-none-match", v)]).await,
                }
            })
        })
        .collect();
    assert!(leading.await.unwrap().body.starts_with("fetch 1"));
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        let expected = if i % 3 == 0 { 304 } else { 200 };
        assert_eq!(r.status, expected, "request {i}: {:?}", r.headers);
        assert!(expected == 304 || r.body.starts_with("fetch 1"), "{}", r.body);
    }
    assert_eq!(origin.hits(slow), 1);

    // A HEAD miss is asked as a GET and stored (nginx's proxy_cache_convert_head); the
    // client gets the head, with the length of the body it did not ask for.
    let headed = "/h?cc=max-age%3D60&etag=%22v1%22";
    let head = send(&client(), http::Request::head(fc.url(headed)).body(Default::default()).unwrap()).await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert!(head.header("cache-status").contains("stored"), "{:?}", head.headers);
    let whole = hit_soon(&fc.url(headed)).await;
    assert_eq!(head.header("content-length"), whole.body.len().to_string());
    assert_eq!(origin.hits(headed), 1);
    let checked = http::Request::head(fc.url("/h2?cc=max-age%3D60&etag=%22v1%22")).header("if-none-match", "\"v1\"");
    assert_eq!(send(&client(), checked.body(Default::default()).unwrap()).await.status, 304);

    // What may not be stored: the origin judges the client's copy, nothing is stored.
    let private = "/p?cc=private&etag=%22v1%22";
    assert_eq!(get_with(&fc.url(private), &[("if-none-match", "\"v1\"")]).await.status, 304);
    assert_eq!(get(&fc.url(private)).await.status, 200);
    assert_eq!(origin.hits(private), 2);
}

/// A 206 to a range that went upstream as it was (a suffix range) is stored as a part of
/// the object (RFC 9111 §3.3): ranges within it are hits, one outside it goes upstream,
/// and an unsafe request removes the part with the rest (§4.4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_stored_and_answer_the_ranges_they_hold() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    let path = "/tail.bin?cc=max-age%3D60&ranges=1&size=1000";
    let whole = page(1000);
    let tail = get_with(&fc.url(path), &[("range", "bytes=-100")]).await;
    assert_eq!((tail.status, tail.header("content-range")), (206, "bytes 900-999/1000"), "{:?}", tail.headers);
    assert_eq!(tail.body, whole[900..]);
    assert!(tail.header("cache-status").contains("stored"), "{:?}", tail.headers);
    hit_soon_with(&fc.url(path), &[("range", "bytes=-100")]).await;
    for (range, first, last) in [("bytes=950-959", 950, 959), ("bytes=990-", 990, 999), ("bytes=-1", 999, 999)] {
        let part = get_with(&fc.url(path), &[("range", range)]).await;
        let content_range = format!("bytes {first}-{last}/1000");
        assert_eq!((part.status, part.header("content-range")), (206, content_range.as_str()), "{range}");
        assert_eq!(part.body, whole[first..=last], "{range}");
        assert!(part.header("cache-status").starts_with("Forecourt; hit"), "{range}: {:?}", part.headers);
    }
    assert_eq!(origin.hits(path), 1, "every range within the part came from the cache");
    // A range the part does not hold: upstream.
    let head = get_with(&fc.url(path), &[("range", "bytes=10-19")]).await;
    assert_eq!((head.status, head.body.as_str()), (206, &whole[10..20]), "{:?}", head.headers);
    assert!(!head.header("cache-status").starts_with("Forecourt; hit"), "{:?}", head.headers);
    assert_eq!(origin.hits(path), 2);
    // A POST to the URL removes what was stored of it, the part included.
    let post = http::Request::post(fc.url(path)).body(Default::default()).unwrap();
    assert_eq!(send(&client(), post).await.status, 200);
    let after = get_with(&fc.url(path), &[("range", "bytes=-100")]).await;
    assert!(after.header("cache-status").contains("uri-miss"), "{:?}", after.headers);
    assert_eq!(after.body, whole[900..]);
}

/// Ranges follow a fetch in progress and lead one: each client gets its own part, the
/// origin one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ranges_join_a_fetch_in_progress() {
    let origin = CacheOrigin::start();
    let (fc, _admin) = start(&origin, "true", "");
    for (i, leading_range) in [None, Some("bytes=1000-")].into_iter().enumerate() {
        let path = format!("/slow{i}?cc=max-age%3D60&size=200000&ms=400");
        let whole = page(200_000);
        let url: &'static str = Box::leak(fc.url(&path).into_boxed_str());
        let leading = tokio::spawn(async move {
            match leading_range {
                Some(range) => get_with(url, &[("range", range)]).await,
                None => get(url).await,
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ranges = ["bytes=1-10", "", "bytes=199990-", "bytes=5000-5099"];
        let tasks: Vec<_> = ranges
            .iter()
            .map(|&range| {
                tokio::spawn(async move {
                    match range {
                        "" => get(url).await,
                        range => get_with(url, &[("range", range)]).await,
                    }
                })
            })
            .collect();
        let lead = leading.await.unwrap();
        match leading_range {
            Some(_) => assert_eq!((lead.status, lead.body.as_str()), (206, &whole[1000..])),
            None => assert_eq!(lead.body, whole),
        }
        for (range, task) in ranges.iter().zip(tasks) {
            let r = task.await.unwrap();
            let expected = match *range {
                "" => &whole[..],
                "bytes=1-10" => &whole[1..=10],
                "bytes=199990-" => &whole[199_990..],
                _ => &whole[5000..5100],
            };
            assert_eq!(r.status, if range.is_empty() { 200 } else { 206 }, "{range}: {:?}", r.headers);
            assert!(r.header("cache-status").contains("collapsed"), "{range}: {:?}", r.headers);
            assert_eq!(r.body, expected, "{range}");
        }
        assert_eq!(origin.hits(&path), 1);
    }
}

/// A GET that is a hit once the body read without a client has reached the store (it
/// goes on after the client's answer): asked again for up to a second.
async fn hit_soon(url: &str) -> Reply {
    hit_soon_with(url, &[]).await
}

async fn hit_soon_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut answer = get_with(url, headers).await;
    for _ in 0..50 {
        if answer.header("cache-status").starts_with("Forecourt; hit") {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = get_with(url, headers).await;
    }
    panic!("{url} is not a hit: {:?}", answer.headers);
}
