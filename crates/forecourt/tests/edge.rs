//! End-to-end: the edge defences through the real binary, with clients on distinct
//! loopback addresses. Rate limits (`[limits.NAME]`): a flooding address is refused while
//! another is served, a list's clients are exempt and a dry run refuses nobody, a delaying
//! limit holds requests to the rate, `[global] limits` apply before routing and keep their
//! buckets across a reload (keys by query parameter and host: `edge/limit_keys.rs`).
//! Address lists (`[lists.NAME]`): a listener's `deny` closes connections at accept, a
//! route's `allow` and `deny` answer 403. Connection limits per
//! address close at accept (not for a `per_ip_exempt` list's clients). Bans (`[bans]`):
//! strikes ban a client (403 on its open connection, closed at accept after; never a
//! client of the `exempt` lists), the admin API adds, lists and lifts bans, a reload keeps
//! them (a restart too: `edge/kept_bans.rs`; requests refused before the chains strike
//! too: `edge/refused_strikes.rs`). Shared state through Debian's redis-server: two instances share one limit, bans
//! reach every instance and survive restarts, a Redis outage falls back to local state and
//! back (what Redis holds or answers that it should not, and a Redis that hangs:
//! `edge/redis_faults.rs`; a shared limit's changed rate: `edge/shared_limit_reloads.rs`;
//! a Redis that lost its bans: `edge/kept_bans.rs`). Bad
//! options point at the mistake. HTTP/2 floods: `edge/h2_floods.rs`. Challenge pages: `edge/challenge.rs`; list feeds:
//! `edge/feeds.rs`; GeoIP: `edge/geoip.rs`; a Redis Cluster: `edge/cluster.rs`; the WAF:
//! `edge/waf.rs` (its requests: `edge/waf_corpus.rs`; the differential check against
//! nginx + libmodsecurity: `edge/waf_reference.rs`; CRS's own regression suite:
//! `edge/waf_crs_suite.rs`; its budget under a throttled CPU: `edge/waf_budget.rs`).
#[path = "edge/challenge.rs"]
mod challenge;
#[path = "edge/cluster.rs"]
mod cluster;
use crate::common;
#[path = "edge/feeds.rs"]
mod feeds;
#[path = "edge/geoip.rs"]
mod geoip;
#[path = "edge/h2_floods.rs"]
mod h2_floods;
#[path = "edge/kept_bans.rs"]
mod kept_bans;
#[path = "edge/limit_keys.rs"]
mod limit_keys;
#[path = "edge/redis_faults.rs"]
mod redis_faults;
#[path = "edge/refused_strikes.rs"]
mod refused_strikes;
#[path = "edge/shared_limit_reloads.rs"]
mod shared_limit_reloads;
#[path = "edge/waf.rs"]
pub(crate) mod waf;
#[path = "edge/waf_budget.rs"]
mod waf_budget;
#[path = "edge/waf_corpus.rs"]
mod waf_corpus;
#[path = "edge/waf_crs_suite.rs"]
mod waf_crs_suite;
#[path = "edge/waf_reference.rs"]
mod waf_reference;

use common::origin::Origin;
use common::redis_server::RedisServer;
use common::*;
use http_body_util::Full;
use std::time::{Duration, Instant};

fn config(origin: &Origin, admin: u16, limits: &str, route_extra: &str, global_extra: &str) -> String {
    config_with(origin, admin, limits, "", route_extra, global_extra)
}

fn config_with(
    origin: &Origin,
    admin: u16,
    tables: &str,
    listen_extra: &str,
    route_extra: &str,
    global_extra: &str,
) -> String {
    format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"{{dir}}/access.log\"\n{global_extra}\n\
         {tables}\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n{listen_extra}\n[[route]]\npath = \"/\"\nupstream = \"o\"\n\
         {route_extra}\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    )
}

pub async fn get_from(c: &HttpClient, url: &str) -> Reply {
    send(c, http::Request::get(url).body(Full::default()).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_flooding_address_is_refused_while_another_is_served() {
    let origin = Origin::start("o");
    let admin = free_port();
    let limits = "[limits.per_ip]\nrate = \"5/s\"\nburst = 2\n";
    let fc = Forecourt::start(&config(&origin, admin, limits, "limits = [\"per_ip\"]", ""));
    let (flood, calm) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..20 {
        let r = get_from(&flood, &fc.url("/f")).await;
        if r.status == 429 {
            refused.get_or_insert(r.clone());
        }
        statuses.push(r.status);
    }
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((3..=5).contains(&passed) && statuses.iter().all(|s| [200, 429].contains(s)), "{statuses:?}");
    let refused = refused.unwrap();
    assert_eq!(refused.header("retry-after"), "1");
    assert_eq!(refused.header("ratelimit-policy"), "\"per_ip\";q=5;w=1");
    assert!(refused.header("ratelimit").starts_with("\"per_ip\";r=0;t="), "{:?}", refused.headers);
    for _ in 0..3 {
        assert_eq!(get_from(&calm, &fc.url("/c")).await.status, 200, "another address has its own bucket");
    }
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    let rejected = metric(&metrics, "forecourt_limit_requests_total{limit=\"per_ip\",decision=\"rejected\"}");
    assert_eq!(rejected as usize, 20 - passed, "{metrics}");
    assert!(metric(&metrics, "forecourt_local_responses_total{reason=\"rate_limited\"}") >= rejected, "{metrics}");
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    assert!(log.contains("\"limit\":\"per_ip:rejected\""), "{log}");
}

/// `exempt = [...]` lets a list's clients by a limit uncounted; `dry_run = true` lets
/// everyone by and logs and counts what the limit would have done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exempt_clients_are_not_counted_and_a_dry_run_refuses_nobody() {
    let origin = Origin::start("o");
    let admin = free_port();
    let tables =
        "[lists.office]\ncidrs = [\"127.0.0.3\"]\n[limits.per_ip]\nrate = \"5/s\"\nburst = 2\nexempt = [\"office\"]\n\
                  [limits.watch]\nrate = \"1/s\"\ndry_run = true\n";
    let fc = Forecourt::start(&config(&origin, admin, tables, "limits = [\"per_ip\", \"watch\"]", ""));
    let (flood, office) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    for _ in 0..20 {
        assert_eq!(
            get_from(&office, &fc.url("/o")).await.status,
            200,
            "the office is exempt, the dry run refuses none"
        );
    }
    let mut flooded = Vec::new();
    for _ in 0..20 {
        flooded.push(get_from(&flood, &fc.url("/f")).await.status);
    }
    let passed = flooded.iter().filter(|s| **s == 200).count();
    assert!((3..=5).contains(&passed) && flooded.contains(&429), "{flooded:?}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    let per_ip =
        |d: &str| metric(&metrics, &format!("forecourt_limit_requests_total{{limit=\"per_ip\",decision=\"{d}\"}}"));
    assert_eq!(per_ip("allowed") + per_ip("rejected"), 20.0, "only the flood's requests are counted\n{metrics}");
    // The office's 20 and the flood's that per_ip let by, each but the first over 1/s.
    let watch =
        |d: &str| metric(&metrics, &format!("forecourt_limit_requests_total{{limit=\"watch\",decision=\"{d}\"}}"));
    assert_eq!(watch("rejected"), 0.0, "{metrics}");
    assert!(watch("dry_run") >= (20 + passed - 3) as f64 && watch("allowed") <= 3.0, "{metrics}");
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    assert!(log.contains("\"limit\":\"watch:would_reject\""), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delaying_limit_holds_requests_to_the_rate() {
    let origin = Origin::start("o");
    let limits = "[limits.smooth]\nkey = \"header:X-Api-Key\"\nrate = \"10/s\"\nburst = 5\naction = \"delay\"\n";
    let fc = Forecourt::start(&config(&origin, free_port(), limits, "limits = [\"smooth\"]", ""));
    let started = Instant::now();
    let url = fc.url("/d");
    let requests: Vec<_> = (0..12)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get_with(&url, &[("x-api-key", "k1")]).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap());
    }
    // Twelve at once: the first and a burst of five are served, held to 10/s (the last of
    // them half a second on); those past the burst are refused.
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!(served >= 6 && statuses.contains(&429) && statuses.iter().all(|s| [200, 429].contains(s)), "{statuses:?}");
    assert!(started.elapsed() >= Duration::from_millis(450), "held to 10/s: {:?}", started.elapsed());
    // Without the header the limit does not count the request.
    for _ in 0..10 {
        assert_eq!(get(&fc.url("/d")).await.status, 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_limits_apply_before_routing_and_survive_reloads() {
    let origin = Origin::start("o");
    let admin = free_port();
    let write = |rate: &str, dry_run: bool| {
        let limits = format!("[limits.all]\nrate = \"{rate}\"\ndry_run = {dry_run}\n");
        config(&origin, admin, &limits, "hosts = [\"only.example\"]", "limits = [\"all\"]")
    };
    let fc = Forecourt::start(&write("1/min", false));
    let c = client_from("127.0.0.4");
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 404, "no route for this host: counted all the same");
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 429, "refused before routing");
    let reload = || async {
        let req = http::Request::post(format!("http://127.0.0.1:{admin}/reload")).body(Full::default()).unwrap();
        send(&client(), req).await
    };
    assert_eq!(reload().await.status, 200);
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 429, "the same limit keeps its buckets");
    // A changed rate keeps the client's debt as requests (nginx keeps its excess so): one
    // request ahead at 1/min is one at 2/min, no fresh allowance.
    fc.rewrite(&write("2/min", false));
    assert_eq!(reload().await.status, 200);
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 429, "a changed rate gives no fresh burst");
    // Watched in a dry run, then enforced again: the buckets are the same throughout, as
    // nginx keeps a zone's state; the client over the limit is still over it.
    fc.rewrite(&write("2/min", true));
    assert_eq!(reload().await.status, 200);
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 404, "a dry run lets it go on");
    fc.rewrite(&write("2/min", false));
    assert_eq!(reload().await.status, 200);
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 429, "the buckets outlived the dry run");
    // Loosened to 60/min: one request ahead is a second now, not the half minute it was.
    fc.rewrite(&write("60/min", false));
    assert_eq!(reload().await.status, 200);
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 429, "still one request ahead");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 404, "its debt at the new rate paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_lists_close_at_accept_and_answer_403_per_route() {
    let origin = Origin::start("o");
    let admin = free_port();
    let feeds = TempDir::new("lists");
    // A feed in the netset format: comments, a /24, 200,000 other ranges, the address.
    let mut feed = String::from("# a FireHOL-style netset\n192.0.2.0/24 ; SBL1\n");
    for i in 0..200_000u32 {
        let j = 2 * i;
        feed.push_str(&format!("{}.{}.{}.0/24\n", 20 + j / 65536, (j / 256) % 256, j % 256));
    }
    feed.push_str("127.0.0.4\n");
    let feed = feeds.file("feed.txt", &feed);
    let tables = format!(
        "[lists.flood]\ncidrs = [\"127.0.0.2\"]\n[lists.feed]\nfile = \"{feed}\"\n[lists.office]\ncidrs = [\"127.0.0.5/32\", \"10.0.0.0/8\"]\n"
    );
    let mut cfg = config_with(&origin, admin, &tables, "deny = [\"flood\"]", "deny = [\"feed\"]", "");
    cfg.push_str("[[route]]\npath = \"/office\"\nupstream = \"o\"\nallow = [\"office\"]\n");
    let started = Instant::now();
    let fc = Forecourt::start(&cfg);
    assert!(started.elapsed() < Duration::from_secs(5), "200,000 ranges load in {:?}", started.elapsed());
    // The listener closes a denied address's connection before reading anything.
    let answer = exchange_from("127.0.0.2", fc.addr(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert!(answer.is_empty(), "closed unanswered: {answer:?}");
    for (from, path, status) in [
        ("127.0.0.3", "/a", 200),
        ("127.0.0.4", "/a", 403),
        ("127.0.0.5", "/office", 200),
        ("127.0.0.3", "/office", 403),
    ] {
        let r = get_from(&client_from(from), &fc.url(path)).await;
        assert_eq!(r.status, status, "{from} {path}: {}", r.body);
    }
    // A route's list holds however its path is spelt: routes read the path as backends do.
    // A path that climbs above the root is refused, and so is a dot segment with
    // parameters or between backslashes, which Tomcat or IIS reads as `/office` and nginx
    // routes under `/x`.
    for (path, status) in [
        ("/x/../office", 403),
        ("//office", 403),
        ("/%6Fffice", 403),
        ("/x/%2e%2e/office", 403),
        ("/x%2F..%2Foffice", 403),
        ("/../office", 400),
        ("/x/..;/office", 400),
        ("/x%5C..%5Coffice", 400),
    ] {
        let r = get_from(&client_from("127.0.0.3"), &fc.url(path)).await;
        assert_eq!(r.status, status, "{path}: {}", r.body);
    }
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_connections_refused_total{reason=\"ip_list\"}") >= 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_ip_list_hits_total{list=\"feed\"}"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_ip_list_ranges{list=\"feed\"}"), 200_002.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_local_responses_total{reason=\"address_denied\"}"), 7.0, "{metrics}");
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    assert!(log.contains("\"ip_list\":\"denied:feed\"") && log.contains("\"ip_list\":\"not-allowed\""), "{log}");
}

/// A connection from `local` that sends `data`, and whether the listener closed it
/// unanswered. An idle listener accepts at once, so its reset can come before the client
/// has seen its connect complete: then there is no stream.
async fn connect_from(local: &str, addr: std::net::SocketAddr, data: &[u8]) -> (Option<tokio::net::TcpStream>, bool) {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let Ok(mut stream) = socket.connect(addr).await else { return (None, true) };
    let _ = stream.write_all(data).await;
    // Closed unanswered: the read ends (EOF or reset) without a byte within a second.
    let mut byte = [0u8; 1];
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(1), tokio::io::AsyncReadExt::read(&mut stream, &mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    );
    (Some(stream), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limits_close_at_accept_per_address() {
    let origin = Origin::start("o");
    let admin = free_port();
    let listen = "max_connections_per_ip = 2\nnew_connections_per_ip = \"3/s\"\nper_ip_exempt = [\"office\"]";
    let office = "[lists.office]\ncidrs = [\"127.0.0.9\"]";
    let fc = Forecourt::start(&config_with(&origin, admin, office, listen, "", ""));
    // Two connections from .6 that are still sending their head are open; a third is not let in.
    let partial = b"GET / HTTP/1.1\r\nHost: a\r\n";
    let (a, a_closed) = connect_from("127.0.0.6", fc.addr(), partial).await;
    let (_b, b_closed) = connect_from("127.0.0.6", fc.addr(), partial).await;
    let (_c, c_closed) = connect_from("127.0.0.6", fc.addr(), partial).await;
    assert_eq!((a_closed, b_closed, c_closed), (false, false, true));
    assert_eq!(get_from(&client_from("127.0.0.7"), &fc.url("/x")).await.status, 200, "another address is served");
    drop(a);
    tokio::time::sleep(Duration::from_millis(1100)).await; // the closed one is counted down; the rate has room again
    let (_d, d_closed) = connect_from("127.0.0.6", fc.addr(), partial).await;
    assert!(!d_closed, "a closed connection frees its place");
    // New connections from .8: three a second (one period's worth at once), then refused.
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let mut closed = Vec::new();
    for _ in 0..5 {
        closed.push(connect_from("127.0.0.8", fc.addr(), whole).await.1);
    }
    assert_eq!(closed, [false, false, false, true, true]);
    // The office's address is held to neither limit: five at once, all open.
    let addr = fc.addr();
    let office: Vec<_> = (0..5).map(|_| tokio::spawn(connect_from("127.0.0.9", addr, partial))).collect();
    for conn in office {
        assert!(!conn.await.unwrap().1, "the office is exempt");
    }
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(
        metric(&metrics, "forecourt_connections_refused_total{reason=\"max_connections_per_ip\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "forecourt_connections_refused_total{reason=\"new_connections_per_ip\"}"),
        2.0,
        "{metrics}"
    );
}

/// What a connection from `local` that starts with `data` gets back (empty: closed).
async fn exchange_from(local: &str, addr: std::net::SocketAddr, data: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    // Reset before the connect completed: closed at accept (see `connect_from`).
    let Ok(mut stream) = socket.connect(addr).await else { return String::new() };
    let _ = stream.write_all(data).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_protocol_names_the_client_for_lists_and_headers() {
    let origin = Origin::start("o");
    let tables = "[lists.bad]\ncidrs = [\"203.0.113.7\"]\n";
    let cfg = config_with(
        &origin,
        free_port(),
        tables,
        "proxy_protocol = true\ndeny = [\"bad\"]",
        "",
        "trusted_proxies = [\"127.0.0.1\"]",
    );
    let fc = Forecourt::start(&cfg);
    let request = "GET /pp HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    // Version 1 from the trusted balancer: the origin sees the client the header names.
    let v1 = format!("PROXY TCP4 198.51.100.9 127.0.0.1 40000 80\r\n{request}");
    let out = exchange_from("127.0.0.1", fc.addr(), v1.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 200") && out.contains("x-real-ip: 198.51.100.9"), "{out}");
    // Version 2, the same.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend([198, 51, 100, 10, 127, 0, 0, 1, 0x9c, 0x40, 0, 80]);
    v2.extend(request.as_bytes());
    let out = exchange_from("127.0.0.1", fc.addr(), &v2).await;
    assert!(out.starts_with("HTTP/1.1 200") && out.contains("x-real-ip: 198.51.100.10"), "{out}");
    // The named client is what the listener's lists judge; no header, a malformed one, or
    // one from a peer that is not a trusted balancer: closed unanswered.
    let denied = format!("PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n{request}");
    assert_eq!(exchange_from("127.0.0.1", fc.addr(), denied.as_bytes()).await, "");
    assert_eq!(exchange_from("127.0.0.1", fc.addr(), request.as_bytes()).await, "");
    assert_eq!(exchange_from("127.0.0.1", fc.addr(), b"PROXY TCP4 nonsense\r\n").await, "");
    assert_eq!(exchange_from("127.0.0.2", fc.addr(), v1.as_bytes()).await, "", "not a trusted balancer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_follow_strikes_and_the_admin_api_and_survive_reloads() {
    let origin = Origin::start("o");
    let admin = free_port();
    let tables = "[limits.one]\nrate = \"1/s\"\n[lists.monitor]\ncidrs = [\"127.0.0.6\"]\n\
                  [bans]\nduration = \"1h\"\nexempt = [\"monitor\"]\n\
                  [bans.rules.scanners]\non = [\"status:404\"]\ncount = 3\nwindow = \"1m\"\nduration = \"2s\"\n\
                  [bans.rules.flooders]\non = [\"rate_limited\"]\ncount = 4\nwindow = \"10s\"\n\
                  [bans.rules.watch]\non = [\"status:404\"]\ncount = 2\nwindow = \"1m\"\ndry_run = true\n";
    let mut cfg = config_with(&origin, admin, tables, "", "", "");
    cfg.push_str("[[route]]\npath = \"/missing\"\nrespond = { status = 404 }\n");
    cfg.push_str("[[route]]\npath = \"/limited\"\nupstream = \"o\"\nlimits = [\"one\"]\n");
    let fc = Forecourt::start(&cfg);
    let api = format!("http://127.0.0.1:{admin}/api/bans");
    // Three 404s within the window ban 127.0.0.2: its open connection gets 403, a new one
    // is closed at accept; 127.0.0.3 is served all along. Pipelined on one connection, as
    // the flooder's below: a pooling client may open a new one for the fourth request, and
    // that is reset at accept (a CI flake).
    let missing = "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n".repeat(3);
    let four = format!("{missing}GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let answers = exchange_from("127.0.0.2", fc.addr(), four.as_bytes()).await;
    assert_eq!(statuses(&answers), [404, 404, 404, 403], "{answers}");
    assert!(answers.contains("refused for a while"), "{answers}");
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange_from("127.0.0.2", fc.addr(), whole).await, "", "closed at accept");
    assert_eq!(get_from(&client_from("127.0.0.3"), &fc.url("/")).await.status, 200);
    // The monitor's address is exempt: no strike counts against it.
    let six = format!(
        "{}GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n".repeat(5)
    );
    assert_eq!(statuses(&exchange_from("127.0.0.6", fc.addr(), six.as_bytes()).await), [404, 404, 404, 404, 404, 200]);
    // The rule's ban lasts 2 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get_from(&client_from("127.0.0.2"), &fc.url("/")).await.status, 200, "the ban expired");
    // Four refusals of a rate limit ban 127.0.0.4 for [bans] duration (1 h). The seven
    // requests go pipelined on one connection: a pooling client may open a new one for
    // the next request before the last is back in its pool, and a banned address's new
    // connection is reset at accept.
    let one = "GET /limited HTTP/1.1\r\nHost: a\r\n\r\n";
    let seven = format!("{}GET /limited HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", one.repeat(6));
    let answers = exchange_from("127.0.0.4", fc.addr(), seven.as_bytes()).await;
    assert_eq!(statuses(&answers), [200, 429, 429, 429, 429, 403, 403]);
    // The admin API bans an address, lists it, and a reload keeps it.
    let post = |body: &'static str| http::Request::post(api.clone()).body(Full::from(body)).unwrap();
    let added = send(&client(), post(r#"{"address": "127.0.0.5", "duration": "30m", "reason": "abuse"}"#)).await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(send(&client(), post(r#"{"address": "nonsense"}"#)).await.status, 400);
    // Neither banned (the listing below): a range is not one client, a misspelt field not read.
    for refused in [r#"{"address": "127.0.0.7/24"}"#, r#"{"address": "127.0.0.8", "durration": "1h"}"#] {
        assert_eq!(send(&client(), post(refused)).await.status, 400, "{refused}");
    }
    assert_eq!(exchange_from("127.0.0.5", fc.addr(), whole).await, "");
    let reloaded =
        send(&client(), http::Request::post(format!("http://127.0.0.1:{admin}/reload")).body(Full::default()).unwrap())
            .await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    let listed: serde_json::Value = serde_json::from_str(&get(&api).await.body).unwrap();
    let sources: Vec<(String, String)> = listed["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["address"].as_str().unwrap().to_owned(), b["source"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        sources,
        [("127.0.0.4".into(), "rule:flooders".into()), ("127.0.0.5".into(), "api:abuse".into())],
        "{listed}"
    );
    assert_eq!(exchange_from("127.0.0.5", fc.addr(), whole).await, "", "the ban outlived the reload");
    let delete = || http::Request::delete(format!("{api}/127.0.0.5")).body(Full::default()).unwrap();
    assert_eq!(send(&client(), delete()).await.status, 200);
    assert_eq!(send(&client(), delete()).await.status, 404, "no longer banned");
    assert_eq!(get_from(&client_from("127.0.0.5"), &fc.url("/")).await.status, 200, "lifted");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_bans_total{rule=\"scanners\"}"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_bans_total{rule=\"flooders\"}"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_bans_total{rule=\"api\"}"), 1.0, "{metrics}");
    // The rule in a dry run banned nobody (the sources above), and said whom it would have.
    assert_eq!(metric(&metrics, "forecourt_bans_total{rule=\"watch\"}"), 0.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_ban_dry_run_trips_total{rule=\"watch\"}"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_bans_active"), 1.0, "{metrics}");
    assert_eq!(metric(&metrics, "forecourt_banned_requests_total"), 3.0, "{metrics}");
    assert!(metric(&metrics, "forecourt_connections_refused_total{reason=\"banned\"}") >= 3.0, "{metrics}");
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    assert!(log.contains("\"ban\":\"scanners:tripped\"") && log.contains("\"ban\":\"banned\""), "{log}");
    assert!(log.contains("\"ban\":\"watch:would_ban\""), "{log}");
}

pub fn shared_config(origin: &Origin, admin: u16, redis: &RedisServer, rate: &str) -> String {
    let tables = format!(
        "[redis]\nurl = \"{}\"\ntimeout = \"200ms\"\n[limits.shared]\nrate = \"{rate}\"\nburst = 1\nstore = \"redis\"\n[bans]\n",
        redis.url()
    );
    config_with(origin, admin, &tables, "", "limits = [\"shared\"]", "")
}

/// Bans `address` for an hour through the admin API on port `admin`.
pub async fn ban_through(admin: u16, address: &str) {
    let ban = http::Request::post(format!("http://127.0.0.1:{admin}/api/bans"))
        .body(Full::from(format!(r#"{{"address": "{address}", "duration": "1h"}}"#)))
        .unwrap();
    assert_eq!(send(&client(), ban).await.status, 200);
}

/// Requests from `client` to `url`, `per_second` of them on average, for `run`: the
/// statuses seen. The gaps vary (0.75 to 1.25 times the mean, drawn from `seed`)
/// so that two clients sharing a limit do not fall into a fixed pattern against its
/// schedule: with even gaps, a limit's slot opens at the same point of both clients'
/// cycles every time, and whichever client's request lands just after it (by a
/// millisecond) takes nearly every slot.
async fn paced(client: &HttpClient, url: &str, per_second: u32, run: Duration, seed: u64) -> Vec<u16> {
    let mean = Duration::from_secs(1) / per_second;
    let mut random = seed | 1;
    let mut statuses = Vec::new();
    let mut next = Instant::now();
    let end = next + run;
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        statuses.push(get_from(client, url).await.status);
        // xorshift64: enough to scatter the gaps, and the same every run.
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        next += mean * 3 / 4 + mean * (random % 1000) as u32 / 2000;
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_limit_through_redis() {
    let redis = RedisServer::start();
    let origin = Origin::start("o");
    let a = Forecourt::start(&shared_config(&origin, free_port(), &redis, "600/min"));
    let b = Forecourt::start(&shared_config(&origin, free_port(), &redis, "600/min"));
    // Both have found Redis after 700 ms. Then one client address, about 25 requests a
    // second at each instance for 60 s: 2.5 times the limit; 600 (and the first) pass in
    // all, and each instance gets a fair part.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let run = Duration::from_secs(60);
    let (client_a, client_b, url_a, url_b) =
        (client_from("127.0.0.2"), client_from("127.0.0.2"), a.url("/a"), b.url("/b"));
    let (from_a, from_b) = tokio::join!(paced(&client_a, &url_a, 25, run, 1), paced(&client_b, &url_b, 25, run, 2));
    let passed = from_a.iter().chain(&from_b).filter(|s| **s == 200).count();
    let others: Vec<_> = from_a.iter().chain(&from_b).filter(|s| ![200, 429].contains(*s)).collect();
    assert!(others.is_empty(), "{others:?}");
    let (passed_a, passed_b) =
        (from_a.iter().filter(|s| **s == 200).count(), from_b.iter().filter(|s| **s == 200).count());
    println!(
        "600/min shared by two instances over 60 s: {passed} passed of {} ({passed_a} through one, {passed_b} through the other)",
        from_a.len() + from_b.len()
    );
    assert!((594..=607).contains(&passed), "600 +- 1 % passed in all: {passed}");
    assert!(passed_a > 200 && passed_b > 200, "each instance let its share through: {passed_a} and {passed_b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_limits_and_bans_go_local_and_come_back_shared() {
    let mut redis = RedisServer::start();
    let origin = Origin::start("o");
    let (admin_a, admin_b) = (free_port(), free_port());
    let a = Forecourt::start(&shared_config(&origin, admin_a, &redis, "10/s"));
    let mut b = Forecourt::start(&shared_config(&origin, admin_b, &redis, "10/s"));
    let up = |admin: u16| async move {
        metric(&get(&format!("http://127.0.0.1:{admin}/metrics")).await.body, "forecourt_redis_up")
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!((up(admin_a).await, up(admin_b).await), (1.0, 1.0));
    // A ban through one instance's API reaches the other within a second.
    ban_through(admin_a, "127.0.0.9").await;
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(exchange_from("127.0.0.9", b.addr(), whole).await, "", "banned on the other instance");
    // A restarted instance reads the shared bans again.
    b.restart();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(exchange_from("127.0.0.9", b.addr(), whole).await, "", "the ban survived the restart");
    // Redis goes away mid-run: no 5xx, the local limit takes over within a second.
    let load = tokio::spawn({
        let (from, url) = (client_from("127.0.0.3"), a.url("/x"));
        async move { paced(&from, &url, 40, Duration::from_secs(4), 3).await }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(up(admin_a).await, 0.0, "forecourt_redis_up says so");
    let statuses = load.await.unwrap();
    assert!(statuses.iter().all(|s| [200, 429].contains(s)), "{statuses:?}");
    // The last second and a half ran on the local limit: 10/s, not 40.
    let tail = &statuses[statuses.len() - 60..];
    let passed = tail.iter().filter(|s| **s == 200).count();
    assert!((10..=22).contains(&passed), "{passed} of the last 60 passed: {tail:?}");
    let metrics = get(&format!("http://127.0.0.1:{admin_a}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_redis_fallbacks_total") > 0.0, "{metrics}");
    assert!(a.stderr().contains("Redis is unreachable"), "{}", a.stderr());
    // A ban made while Redis is down stays local, and is shared when Redis is back.
    ban_through(admin_a, "127.0.0.10").await;
    redis.resume();
    assert!(
        eventually(Duration::from_secs(5), || redis
            .cli(&["zscore", "{forecourt:bans}:until", "127.0.0.10"])
            .parse::<f64>()
            .is_ok()),
        "the ban made while Redis was down is written when it returns"
    );
    let back = Instant::now();
    while up(admin_b).await != 1.0 && back.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back.elapsed() < Duration::from_secs(2), "up again after {:?}\n{}", back.elapsed(), b.stderr());
    assert_eq!(up(admin_a).await, 1.0);
    assert_eq!(get_from(&client_from("127.0.0.4"), &a.url("/")).await.status, 200);
}

#[test]
fn bad_limit_options_point_at_the_mistake() {
    let dir = TempDir::new("limits-check");
    let path = dir.file(
        "bad.toml",
        "[global]\nlimits = [\"nope\"]\n[limits.a]\nrate = \"10/fortnight\"\n[limits.b]\nrate = \"1/s\"\nkey = \"addr\"\n\
         action = \"drop\"\nstore = \"redis\"\nexempt = [\"staff\"]\n[[route]]\nrespond = { status = 200 }\nlimits = [\"b\", \"zz\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let feed = dir.file("feed.txt", "10.0.0.0/8\n10.0.0.300\n# fine\n10.0.0.0/40\n");
    let lists = dir.file(
        "lists.toml",
        &format!(
            "[lists.feed]\nfile = \"{feed}\"\n[lists.gone]\nfile = \"nowhere.txt\"\n[lists.inline]\ncidrs = [\"1.2.3.4/99\"]\n\
             [[listen]]\naddr = \"127.0.0.1:1\"\ndeny = [\"nope\"]\nproxy_protocol = true\nper_ip_exempt = [\"inline\"]\n[[route]]\nrespond = {{ status = 200 }}\nallow = [\"feed\"]\n"
        ),
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &lists]).output().unwrap();
    let bans = dir.file(
        "bans.toml",
        "[bans]\nduration = \"0s\"\n[bans.rules.a]\non = [\"teapot\", \"status:999\"]\ncount = 0\nwindow = \"1 fortnight\"\n\
         [[route]]\nrespond = { status = 200 }\n[redis]\nurl = \"http://nope\"\n",
    );
    let bans_out = std::process::Command::new(BIN).args(["check", "-c", &bans]).output().unwrap();
    let bans_text = String::from_utf8_lossy(&bans_out.stderr).into_owned();
    for expected in [
        "bans.toml:2:12: must be longer than zero",
        "bans.toml:4:7: unknown answer `teapot`",
        "bans.toml:4:17: bad status `999`",
        "bans.toml:5:9: must be between 1 and 1000000",
        "bans.toml:6:10: bad duration `1 fortnight`",
        "bans.toml:10:7: bad Redis URL",
    ] {
        assert!(bans_text.contains(expected), "{expected}\n{bans_text}");
    }
    let lists_text = String::from_utf8_lossy(&out.stderr).into_owned();
    for expected in [
        format!(
            "lists.toml:2:8: bad lines in the list file:\n  {feed}:2: `10.0.0.300` is not an IP address\n  {feed}:4:"
        ),
        "lists.toml:4:8: cannot read".to_owned(),
        "lists.toml:6:10: bad list entry: `/99` is not a prefix length".to_owned(),
        "lists.toml:9:9: unknown list `nope`".to_owned(),
        "lists.toml:10:18: proxy_protocol needs trusted_proxies".to_owned(),
        "lists.toml:11:18: per_ip_exempt needs a per-address connection limit".to_owned(),
    ] {
        assert!(lists_text.contains(&expected), "{expected}\n{lists_text}");
    }
    for expected in [
        "bad.toml:2:11: unknown limit `nope`",
        "bad.toml:4:8: bad rate: unknown unit `fortnight`",
        "bad.toml:7:7: unknown key part `addr`",
        "bad.toml:8:10: unknown action `drop`",
        "bad.toml:9:9: store \"redis\" needs [redis]",
        "bad.toml:10:11: unknown list `staff`",
        "bad.toml:13:16: unknown limit `zz`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
    assert!(!text.contains("unknown limit `b`"), "b is defined, with its mistakes said where they are\n{text}");
}
