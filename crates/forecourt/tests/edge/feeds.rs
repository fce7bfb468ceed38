//! Address-list feeds (`[lists.NAME] url`): a route's deny list follows a feed as it
//! changes (Spamhaus DROP's JSON, then plain text, then a document as Google publishes its
//! crawlers' ranges; a list file may be such a document too), refreshes with `If-None-Match` (an
//! unchanged feed costs a 304), keeps its last good copy while the feed fails (and says
//! why), and a 200,000-entry feed loads in about a second. A list in `trusted_proxies`
//! (a CDN's published ranges) is followed as its feed changes. The last good copy is kept
//! on disk: a restart while the feed is down serves with it.
use super::common::feed_server::FeedServer;
use super::common::origin::Origin;
use super::common::*;
use super::{config, get_from};
use http_body_util::Full;
use std::time::{Duration, Instant};

fn denied(fc: &Forecourt, from: &HttpClient) -> bool {
    let url = fc.url("/x");
    let rt = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| rt.block_on(get_from(from, &url))).status == 403
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_is_followed_refreshed_with_etags_and_kept_while_it_fails() {
    let origin = Origin::start("o");
    let admin = free_port();
    let drop_json = "{\"cidr\":\"127.0.0.2/32\",\"sblid\":\"SBL1\",\"rir\":\"ripencc\"}\n\
                     {\"type\":\"metadata\",\"timestamp\":1700000000,\"size\":1,\"records\":1}\n";
    let feed = FeedServer::start(drop_json, "\"v1\"");
    // Google's googlebot.json as published (pretty-printed, one object), saved as a file.
    let googlebot = |v4: &str| {
        format!(
            "{{\n  \"creationTime\": \"2026-12-01T23:00:50.000000\",\n  \"prefixes\": [\n    \
             {{\n      \"ipv6Prefix\": \"2001:4860:4801:10::/64\"\n    }},\n    {{\n      \"ipv4Prefix\": \"{v4}\"\n    }}\n  ]\n}}\n"
        )
    };
    let published = TempDir::new("published");
    let crawlers = published.file("googlebot.json", &googlebot("127.0.0.5/32"));
    let tables = format!(
        "[lists.drop]\nurl = \"{}\"\nrefresh = \"1s\"\n[lists.crawlers]\nfile = \"{crawlers}\"\n",
        feed.url("/drop_v4.json")
    );
    let fc = Forecourt::start(&config(&origin, admin, &tables, "deny = [\"drop\", \"crawlers\"]", ""));
    let (two, three) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    assert!(eventually(Duration::from_secs(5), || denied(&fc, &two)), "the feed's address is denied");
    assert!(!denied(&fc, &three));
    assert!(denied(&fc, &client_from("127.0.0.5")), "the file's");
    assert!(eventually(Duration::from_secs(5), || feed.answered().contains(&304)), "{:?}", feed.answered());

    // The feed changes (to plain text): the list follows, no request refused on the way.
    feed.set("# moved\n127.0.0.3\n", "\"v2\"");
    assert!(eventually(Duration::from_secs(5), || denied(&fc, &three)));
    assert!(!denied(&fc, &two));

    // The feed fails: the last good copy stays, and the log and /metrics say so.
    feed.state.lock().unwrap().failing = true;
    assert!(eventually(Duration::from_secs(5), || feed.answered().ends_with(&[500])));
    assert!(denied(&fc, &three) && !denied(&fc, &two));
    assert!(
        eventually(Duration::from_secs(3), || fc.stderr().contains("keeping the last good copy")),
        "{}",
        fc.stderr()
    );
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_ip_list_feed_fetches_total{list=\"drop\",outcome=\"failed\"}") >= 1.0);
    assert!(metric(&metrics, "forecourt_ip_list_feed_fetches_total{list=\"drop\",outcome=\"updated\"}") >= 2.0);
    assert!(metric(&metrics, "forecourt_ip_list_feed_fetches_total{list=\"drop\",outcome=\"unchanged\"}") >= 1.0);
    assert_eq!(metric(&metrics, "forecourt_ip_list_ranges{list=\"drop\"}"), 1.0);
    let calm = get_from(&client_from("127.0.0.4"), &fc.url("/x")).await;
    assert_eq!(calm.status, 200);

    // Back, as a published document: the list follows it.
    feed.set(&googlebot("127.0.0.2/32"), "\"v3\"");
    feed.state.lock().unwrap().failing = false;
    assert!(eventually(Duration::from_secs(5), || denied(&fc, &two)), "{}", fc.stderr());
    assert!(!denied(&fc, &three));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feeds_last_good_copy_outlives_a_restart_while_the_feed_is_down() {
    let origin = Origin::start("o");
    let admin = free_port();
    let feed = FeedServer::start("127.0.0.2 ; SBL1\n", "\"v1\"");
    let url = feed.url("/drop.txt");
    let write = |refresh: &str| {
        let tables = format!("[lists.drop]\nurl = \"{url}\"\nrefresh = \"{refresh}\"\n");
        config(&origin, admin, &tables, "deny = [\"drop\"]", "data_dir = \"kept\"")
    };
    let mut fc = Forecourt::start(&write("1s"));
    let (two, three) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    assert!(eventually(Duration::from_secs(5), || denied(&fc, &two)));
    // Kept beside the config (`data_dir` is relative to its folder), as a netset that says
    // where it came from.
    let copy = std::fs::read_to_string(fc.dir.path("kept/lists/drop.feed")).unwrap_or_default();
    for line in [format!("# url: {url}\n"), "# etag: \"v1\"\n".into(), "\n127.0.0.2/32\n".into()] {
        assert!(copy.contains(&line), "{line:?} in\n{copy}");
    }

    // The feed's server goes down, and Forecourt restarts: the list holds from the start.
    feed.state.lock().unwrap().failing = true;
    fc.restart();
    assert!(denied(&fc, &two), "denied from the first request: {}", fc.stderr());
    assert!(!denied(&fc, &three));
    assert!(fc.stderr().contains("list feed starts from its kept copy"), "{}", fc.stderr());
    assert!(eventually(Duration::from_secs(5), || feed.answered().ends_with(&[500])));
    assert!(denied(&fc, &two), "kept while the feed fails");

    // The server is back: the copy's ETag is sent, so the unchanged feed costs a 304.
    let asked = feed.answered().len();
    feed.state.lock().unwrap().failing = false;
    assert!(eventually(Duration::from_secs(5), || feed.answered()[asked..].contains(&304)), "{:?}", feed.answered());
    assert!(!feed.answered()[asked..].contains(&200), "{:?}", feed.answered());

    // A reload that changes how often the feed is fetched keeps the entries, the feed down.
    feed.state.lock().unwrap().failing = true;
    fc.rewrite(&write("2s"));
    let reload = http::Request::post(format!("http://127.0.0.1:{admin}/reload")).body(Full::default()).unwrap();
    assert_eq!(send(&client(), reload).await.status, 200);
    assert!(eventually(Duration::from_secs(5), || feed.answered().ends_with(&[500])));
    assert!(denied(&fc, &two), "kept across the reload");
}

/// The client the origin is told of (`X-Real-IP`) for a request that says it came for
/// 203.0.113.9 through the proxy at 127.0.0.1.
fn real_ip(fc: &Forecourt) -> String {
    let rt = tokio::runtime::Handle::current();
    let echo = tokio::task::block_in_place(|| {
        rt.block_on(get_with(&fc.url("/x"), &[("x-forwarded-for", "203.0.113.9")])).body.to_lowercase()
    });
    echo.lines().find_map(|l| l.strip_prefix("x-real-ip: ")).unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdns_ranges_from_a_feed_are_trusted_proxies_as_they_change() {
    let origin = Origin::start("o");
    let admin = free_port();
    // A CDN's published ranges, as Cloudflare's ips-v4 are written; 127.0.0.1 stands for
    // one of its edges.
    let feed = FeedServer::start(
        "173.245.48.0/20
127.0.0.0/8
",
        "\"v1\"",
    );
    let tables = format!("[lists.cdn]\nurl = \"{}\"\nrefresh = \"1s\"\n", feed.url("/ips-v4"));
    let fc = Forecourt::start(&config(&origin, admin, &tables, "", "trusted_proxies = [\"10.9.9.9\", \"cdn\"]"));
    assert!(
        eventually(Duration::from_secs(5), || real_ip(&fc) == "203.0.113.9"),
        "the edge's client: {}",
        real_ip(&fc)
    );
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_ip_list_ranges{list=\"cdn\"}"), 2.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_ip_list_hits_total{list=\"cdn\"}"), 0.0, "trust is not a match");
    // The CDN no longer lists the address: what it says of its client is no longer taken.
    feed.set(
        "173.245.48.0/20
",
        "\"v2\"",
    );
    assert!(eventually(Duration::from_secs(5), || real_ip(&fc) == "127.0.0.1"), "{}", real_ip(&fc));
    // A name that is neither a CIDR nor a list is an error where it stands.
    let dir = TempDir::new("trusted-check");
    let path = dir.file("bad.toml", "[global]\ntrusted_proxies = [\"cdn\"]\n[[route]]\nrespond = { status = 200 }\n");
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(text.contains("bad.toml:2:20: bad trusted_proxies entry") && text.contains("[lists.NAME]"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_entries_load_in_about_a_second() {
    let origin = Origin::start("o");
    let admin = free_port();
    // Every other /24 from 1.0.0.0 on (none merge), and 127.0.0.2 last.
    let mut text: String = (0..199_999u32)
        .map(|i| 2 * i)
        .map(|j| format!("{}.{}.{}.0/24\n", 1 + j / 65536, (j / 256) % 256, j % 256))
        .collect();
    text.push_str("127.0.0.2\n");
    let feed = FeedServer::start(&text, "\"big\"");
    let tables = format!("[lists.big]\nurl = \"{}\"\n", feed.url("/firehol_level1.netset"));
    let started = Instant::now();
    let fc = Forecourt::start(&config(&origin, admin, &tables, "deny = [\"big\"]", ""));
    let two = client_from("127.0.0.2");
    assert!(eventually(Duration::from_secs(10), || denied(&fc, &two)));
    let loaded = started.elapsed();
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_ip_list_ranges{list=\"big\"}"), 200_000.0);
    assert_eq!(get_from(&client_from("127.0.0.3"), &fc.url("/x")).await.status, 200);
    // Start, fetch (4 MB) and load, in a debug build on a shared machine.
    eprintln!("a 200,000-entry feed was in force {loaded:?} after start");
    assert!(loaded < Duration::from_secs(5), "{loaded:?}");
}

#[test]
fn bad_feed_options_point_at_the_mistake() {
    let dir = TempDir::new("feed-check");
    let path = dir.file(
        "bad.toml",
        "[lists.a]\nurl = \"ftp://example.com/list\"\n[lists.b]\nurl = \"https://example.com/x\"\nrefresh = \"0s\"\n\
         format = \"xml\"\n[[route]]\nrespond = { status = 200 }\ndeny = [\"a\", \"b\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "bad.toml:2:7: `ftp://example.com/list` is not an http:// or https:// URL",
        "bad.toml:5:11: refresh must be at least 1s",
        "bad.toml:6:10: unknown format `xml`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}
