//! End-to-end: the fields that target the cache rather than every cache — its own
//! (`Forecourt-Cache-Control`) and the Edge Architecture's `Surrogate-Control`, read for
//! the cache's device token, which it announces upstream in `Surrogate-Capability` —
//! obeyed over `Cache-Control` and never passed to clients, from a hit either.
use crate::common;

use common::cache_origin::CacheOrigin;
use common::*;

fn start(origin: &CacheOrigin, cache_section: &str) -> Forecourt {
    Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\n{cache_section}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\ncache = true\n\
         [upstream.o]\nservers = [\"{}\"]\n[upstream.o.retry]\nattempts = 1\n",
        origin.addr
    ))
}

/// `/name?k=v&...` with the values percent-encoded, for the origin's script.
fn scripted(name: &str, fields: &[(&str, &str)]) -> String {
    let mut path = format!("/{name}?");
    for (k, v) in fields {
        let value: String = v
            .bytes()
            .map(|b| match b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            })
            .collect();
        path.push_str(&format!("{k}={value}&"));
    }
    path
}

/// The cases of the RFC 9111 conformance suite's `Surrogate-Control` file (whose target
/// token is the cache's own), each fetched twice: whether the second came from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surrogate_control_is_cache_control_for_this_cache() {
    let origin = CacheOrigin::start();
    let fc = start(&origin, "");
    let future = "Thu, 18 Aug 2050 02:01:18 GMT";
    let past = "Thu, 18 Aug 2016 02:01:18 GMT";
    for (name, fields, stored) in [
        ("max-age", &[("surr", "max-age=3600")][..], true),
        ("max-age-max-plus", &[("surr", "max-age=99999999999")], true),
        ("me-target", &[("surr", "max-age=3600;forecourt")], true),
        ("other-target", &[("surr", "max-age=3600;not-for-you")], false),
        ("age", &[("surr", "max-age=3600"), ("age", "7200")], false),
        ("zero", &[("surr", "max-age=0")], false),
        ("extension", &[("surr", "foobar, max-age=3600")], true),
        ("case", &[("surr", "MaX-aGe=3600")], true),
        ("past-expires", &[("surr", "max-age=3600"), ("exp", past)], true),
        ("invalid-expires", &[("surr", "max-age=3600"), ("exp", "0")], true),
        ("zero-future-expires", &[("surr", "max-age=0"), ("exp", future)], false),
        ("over-short-cc", &[("cc", "max-age=0"), ("surr", "max-age=3600")], true),
        ("under-long-cc", &[("cc", "max-age=3600"), ("surr", "max-age=0")], false),
        ("no-store", &[("surr", "no-store")], false),
        ("no-store-cc-fresh", &[("cc", "max-age=10000"), ("surr", "no-store"), ("exp", future)], false),
        ("fresh-cc-no-store", &[("cc", "no-store"), ("surr", "max-age=10000;forecourt")], true),
        ("ours-over-untargeted", &[("surr", "max-age=0, max-age=60;forecourt, no-store;forecourt-2")], true),
        ("esi-only", &[("cc", "max-age=60"), ("surr", "content=\"ESI/1.0\"")], true),
    ] {
        let path = scripted(name, fields);
        let first = get(&fc.url(&path)).await;
        let second = get(&fc.url(&path)).await;
        assert_eq!(origin.hits(&path), if stored { 1 } else { 2 }, "{name}: {:?}", second.headers);
        for reply in [&first, &second] {
            assert_eq!(reply.header("surrogate-control"), "", "{name}: {:?}", reply.headers);
        }
        assert_eq!(first.header("capability-seen"), "forecourt=\"Surrogate/1.0\"", "{name}");
    }
}

/// The cache's own targeted field steers it and stays between the two, on a hit too;
/// `Surrogate-Control` is another surrogate's business with `surrogate_id = "off"`, and
/// a token of the operator's choosing is read instead of "forecourt".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_for_the_cache_alone_do_not_reach_clients() {
    let origin = CacheOrigin::start();
    let fc = start(&origin, "");
    let path = scripted("own", &[("cc", "no-store"), ("own", "max-age=60")]);
    let (miss, hit) = (get(&fc.url(&path)).await, get(&fc.url(&path)).await);
    assert!(hit.header("cache-status").contains("hit"), "{:?}", hit.headers);
    for reply in [&miss, &hit] {
        assert_eq!(reply.header("forecourt-cache-control"), "", "{:?}", reply.headers);
        assert_eq!(reply.header("cache-control"), "no-store");
    }

    let off = start(&origin, "[cache]\nsurrogate_id = \"off\"");
    let path = scripted("off", &[("cc", "no-store"), ("surr", "max-age=60")]);
    let (first, _) = (get(&off.url(&path)).await, get(&off.url(&path)).await);
    assert_eq!(origin.hits(&path), 2, "Surrogate-Control is not read");
    assert_eq!((first.header("surrogate-control"), first.header("capability-seen")), ("max-age=60", ""));

    let named = start(&origin, "[cache]\nsurrogate_id = \"edge-1\"");
    let path = scripted("named", &[("cc", "no-store"), ("surr", "max-age=60;edge-1")]);
    let (first, _) = (get(&named.url(&path)).await, get(&named.url(&path)).await);
    assert_eq!(origin.hits(&path), 1, "{:?}", first.headers);
    assert_eq!(first.header("capability-seen"), "edge-1=\"Surrogate/1.0\"");

    let dir = TempDir::new("surrogate-check");
    let config = dir.file("bad.toml", "[cache]\nsurrogate_id = \"edge 1\"\n[[route]]\nrespond = { status = 200 }\n");
    let out = std::process::Command::new(BIN).args(["check", "-c", &config]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("bad.toml:2:16: `edge 1` is not a surrogate device token"), "{text}");
}
