//! End-to-end: what `POST /api/cache/purge` answers. It says, in JSON, what it purged and
//! how many stored objects that was (one held by the memory and the disk tier counted
//! once; 0 when it named nothing stored), takes a URL or prefix written as a path to mean
//! that path on every host (Varnish's `ban req.url`), and refuses with a 400, purging
//! nothing, a body it cannot read one way: two purges in one, an unknown field (a
//! misspelt `soft` would have removed what was to be kept), a URL without its scheme and
//! host (which no key could match).
use crate::common;

use common::cache_admin::{disk_holds, purge};
use common::cache_origin::CacheOrigin;
use common::*;
use serde_json::{json, Value};

/// The status and the JSON of a purge's answer.
fn answer(r: &Reply) -> (u16, Value) {
    (r.status, serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_says_what_it_removed_and_refuses_what_it_cannot_read() {
    let origin = CacheOrigin::start();
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\n\
         [cache]\nmemory = \"8m\"\nmax_object = \"1m\"\ndisk = {{ path = \"{{dir}}/cache\", size = \"32m\" }}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\ncache = true\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    wait_for_port(admin);
    let admin = format!("http://127.0.0.1:{admin}");
    let paths = ["/img/1?cc=max-age%3D600", "/img/2?cc=max-age%3D600", "/css/a?cc=max-age%3D600&tag=style"];
    let fill = || async {
        for p in paths {
            get(&fc.url(p)).await;
        }
    };
    let fetches = || paths.map(|p| origin.hits(p));
    fill().await;
    assert!(disk_holds(&admin, 3).await, "each object in both tiers");

    for (body, says) in [
        (r#"{"tag": "style", "sfot": true}"#, "unknown field \"sfot\""),
        (r#"{"all": true, "url": "/img/1?cc=max-age%3D600"}"#, "one purge at a time"),
        (r#"{"url": "127.0.0.1/img/1?cc=max-age%3D600"}"#, "a URL with its scheme and host"),
        (r#"{"prefix": ""}"#, "a URL with its scheme and host"),
        (r#"{"all": false}"#, "\"all\" is true"),
    ] {
        let r = purge(&admin, body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body.contains(says), "{body}: {}", r.body);
    }
    fill().await;
    assert_eq!(fetches(), [1, 1, 1], "a refused purge removes nothing");

    let one = r#"{"url": "/img/1?cc=max-age%3D600"}"#;
    let expect = json!({"url": "/img/1?cc=max-age%3D600", "soft": false, "objects": 1});
    assert_eq!(answer(&purge(&admin, one).await), (200, expect), "a path names the URL on every host");
    let expect = json!({"url": "/img/1?cc=max-age%3D600", "soft": false, "objects": 0});
    assert_eq!(answer(&purge(&admin, one).await), (200, expect), "nothing left to purge");
    let expect = json!({"prefix": "/img/", "soft": false, "objects": 1});
    assert_eq!(answer(&purge(&admin, r#"{"prefix": "/img/"}"#).await), (200, expect));
    let expect = json!({"prefix": "http://127.0.0.1/css/", "soft": true, "objects": 1});
    let soft = r#"{"prefix": "http://127.0.0.1/css/", "soft": true}"#;
    assert_eq!(answer(&purge(&admin, soft).await), (200, expect), "a prefix with its host");
    fill().await;
    assert_eq!(fetches(), [2, 2, 2], "each object purged asked of the origin again (the stale one, to validate)");

    let expect = json!({"tag": "style", "soft": false, "objects": 1});
    assert_eq!(answer(&purge(&admin, r#"{"tag": "style"}"#).await), (200, expect));
    fill().await;
    assert!(disk_holds(&admin, 3).await);
    let expect = json!({"all": true, "soft": false, "objects": 3});
    assert_eq!(answer(&purge(&admin, r#"{"all": true}"#).await), (200, expect));
    let api: Value = serde_json::from_str(&get(&format!("{admin}/api/cache")).await.body).unwrap();
    assert_eq!((&api["memory"]["objects"], &api["disk"]["objects"]), (&json!(0), &json!(0)), "{api}");
}

/// A route whose key adds a request header stores one object per value for one URL: an
/// unsafe method, a `PURGE` and the admin API's purge of the URL each remove them all,
/// in memory and on disk (found without a scan of either tier).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_of_a_url_goes_when_the_url_is_invalidated_or_purged() {
    let origin = CacheOrigin::start();
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\n[cache]\npurge_from = [\"127.0.0.1\"]\n\
         max_object = \"1m\"\ndisk = {{ path = \"{{dir}}/cache\", size = \"32m\" }}\n\
         [[route]]\nupstream = \"o\"\ncache = {{ key = {{ headers = [\"X-Tenant\"] }} }}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    wait_for_port(admin);
    let admin = format!("http://127.0.0.1:{admin}");
    let path = "/k?cc=max-age%3D600";
    let fetch_both = || async {
        for tenant in ["a", "b"] {
            get_with(&fc.url(path), &[("x-tenant", tenant)]).await;
        }
    };
    fetch_both().await;
    fetch_both().await;
    assert_eq!(origin.hits(path), 2, "one object per tenant, then hits");
    assert!(disk_holds(&admin, 2).await, "one file per tenant");

    let post = send(&client(), http::Request::post(fc.url(path)).body(Default::default()).unwrap()).await;
    assert_eq!(post.status, 200);
    assert!(disk_holds(&admin, 0).await, "the POST removed both files");
    fetch_both().await;
    assert_eq!(origin.hits(path), 5, "the POST, then both fetched again");

    let purge_request = http::Request::builder().method("PURGE").uri(fc.url(path)).body(Default::default());
    assert_eq!(send(&client(), purge_request.unwrap()).await.status, 200);
    assert!(disk_holds(&admin, 0).await, "the PURGE removed both files");
    fetch_both().await;
    assert_eq!(origin.hits(path), 7, "PURGE removed both");

    let url = format!(r#"{{"url": "http://127.0.0.1{path}"}}"#);
    let expect = json!({"url": format!("http://127.0.0.1{path}"), "soft": false, "objects": 2});
    assert!(disk_holds(&admin, 2).await);
    assert_eq!(answer(&purge(&admin, &url).await), (200, expect));
    assert!(disk_holds(&admin, 0).await);
    fetch_both().await;
    assert_eq!(origin.hits(path), 9);
}
