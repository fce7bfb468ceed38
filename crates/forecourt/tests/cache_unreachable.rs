//! End-to-end: stale answers when the origin cannot be reached at all (RFC 9111 §4.2.4's
//! "disconnected"): served by default for a day past freshness (and a fresh copy that a
//! client's `no-cache` sent to be validated, counted as a hit), never for a response that must be
//! revalidated or validated at every use, not instead of the origin's own 5xx, and not
//! where the route says `stale_if_unreachable = "off"`.
use crate::common;

use common::cache_origin::CacheOrigin;
use common::*;
use std::time::Duration;

/// A path whose response says `Cache-Control: max-age=1` and `extra` besides.
fn with_cc(path: &str, extra: &str) -> String {
    let extra = extra.replace(',', "%2C").replace(' ', "%20").replace('=', "%3D");
    format!("{path}?cc=max-age%3D1{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_is_served_when_the_origin_cannot_be_reached() {
    let origin = CacheOrigin::start();
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"127.0.0.1:{admin}\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\npath = \"/off\"\nupstream = \"o\"\ncache = {{ stale_if_unreachable = \"off\" }}\n\
         [[route]]\nupstream = \"o\"\ncache = true\n\
         [upstream.o]\nservers = [\"{}\"]\n[upstream.o.retry]\nattempts = 1\n",
        origin.addr
    ));
    let plain = with_cc("/plain", "");
    let off = with_cc("/off/page", "");
    let forbidden: Vec<String> =
        [", must-revalidate", ", proxy-revalidate", ", s-maxage=1", ", no-cache, stale-if-error=60"]
            .iter()
            .enumerate()
            .map(|(i, extra)| with_cc(&format!("/must{i}"), extra))
            .collect();
    let first = get(&fc.url(&plain)).await;
    let (fresh, off_fresh) = ("/fresh?cc=max-age%3D3600", "/off/fresh?cc=max-age%3D3600");
    let fresh_first = get(&fc.url(fresh)).await;
    get(&fc.url(off_fresh)).await;
    for path in forbidden.iter().chain([&off]) {
        let r = get(&fc.url(path)).await;
        assert!(r.header("cache-status").contains("stored"), "{path}: {:?}", r.headers);
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The origin is up and answers 503: its answer stands (no stale-if-error here).
    origin.fail(true);
    let r = get(&fc.url(&plain)).await;
    assert_eq!(r.status, 503, "{:?}", r.headers);
    origin.fail(false);

    // The origin is gone (its runtime stops on a thread of its own: wait until its port
    // refuses): the stale copy answers, and says why.
    let addr = origin.addr;
    drop(origin);
    assert!(eventually(Duration::from_secs(5), || std::net::TcpStream::connect(addr).is_err()), "the origin stopped");
    tokio::time::sleep(Duration::from_millis(200)).await; // its connections' tasks end with it
    let r = get(&fc.url(&plain)).await;
    assert_eq!((r.status, &r.body), (200, &first.body), "{:?}", r.headers);
    let status = r.header("cache-status");
    assert!(status.contains("fwd=stale") && status.contains("detail=stale-if-unreachable"), "{status}");
    assert!(r.header("age").parse::<u64>().is_ok_and(|age| age >= 2), "{:?}", r.headers);
    // A fresh copy that the client asked to have validated: served too (it would be,
    // stale), said to be what it is, and counted as a hit, not as stale.
    let no_cache = [("cache-control", "no-cache")];
    let counts = |m: &str| {
        ["hit", "stale"]
            .map(|c| metric(m, &format!("forecourt_cache_requests_total{{route=\"route#2\",outcome=\"{c}\"}}")))
    };
    let before = counts(&get(&format!("http://127.0.0.1:{admin}/metrics")).await.body);
    let r = get_with(&fc.url(fresh), &no_cache).await;
    assert_eq!((r.status, &r.body), (200, &fresh_first.body), "{:?}", r.headers);
    assert!(r.header("cache-status").contains("fwd=request; fwd-status=502"), "{:?}", r.headers);
    assert!(r.header("cache-status").contains("detail=origin-unreachable"), "{:?}", r.headers);
    let after = counts(&get(&format!("http://127.0.0.1:{admin}/metrics")).await.body);
    assert_eq!([after[0] - before[0], after[1] - before[1]], [1.0, 0.0]);
    assert_eq!(get_with(&fc.url(off_fresh), &no_cache).await.status, 502, "not where the route turned it off");

    // Not where the response forbids it, nor where the route turned it off.
    for path in forbidden.iter().chain([&off]) {
        let r = get(&fc.url(path)).await;
        assert_eq!(r.status, 502, "{path}: {:?}", r.headers);
        assert!(!r.header("cache-status").contains("detail=stale"), "{path}: {:?}", r.headers);
    }
}

/// A bad `stale_if_unreachable` fails `forecourt check` with file:line:col.
#[test]
fn a_bad_stale_if_unreachable_points_at_the_mistake() {
    let dir = TempDir::new("cache-unreachable-check");
    let path = dir.file(
        "bad.toml",
        "[[route]]\nupstream = \"o\"\ncache = { stale_if_unreachable = \"soon\" }\n\
         [upstream.o]\nservers = [\"127.0.0.1:2\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("bad.toml:3:34: bad duration `soon`"), "{text}");
}
