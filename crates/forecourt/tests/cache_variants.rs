//! End-to-end: which stored variant a request selects when the response varies on
//! `Accept-Language` — equivalent lists share one (order of equal weights, letter case,
//! spaces), and a variant in the language a request prefers to all others it lists is
//! that request's answer too.
use crate::common;

use common::cache_origin::CacheOrigin;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_language_variants_are_selected_as_the_origin_would() {
    let origin = CacheOrigin::start();
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nupstream = \"o\"\ncache = true\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    let path = "/lang?cc=max-age%3D60&vary=Accept-Language&cl=de";
    let stored = get_with(&fc.url(path), &[("accept-language", "en, de")]).await;
    assert!(stored.header("cache-status").contains("stored"), "{:?}", stored.headers);
    for (asked, hit) in [
        ("de, en", true),
        (" eN ,   De", true),
        ("fr;q=0.5, de;q=1.0", true), // de is preferred, and the variant is in de
        ("fr, de", false),            // fr is as welcome: the origin may have it
        ("de;q=0.5, fr", false),
    ] {
        let reply = get_with(&fc.url(path), &[("accept-language", asked)]).await;
        assert_eq!(reply.header("cache-status").contains("hit"), hit, "{asked}: {:?}", reply.headers);
        if hit {
            assert_eq!(reply.body, stored.body, "{asked}");
        }
    }
    assert_eq!(origin.hits(path), 3);
}
