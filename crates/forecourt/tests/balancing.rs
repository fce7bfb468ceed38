//! End-to-end: balancing, health checks, failover, retries and the upstream admin API,
//! through the real binary to real origins (in-process servers, and `forecourt` itself as
//! an origin process where one must be killed).
use crate::common;

use common::origin::{raw_origin, Origin};
use common::*;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A proxy config with one route to upstream `o`, whose table body is `upstream`.
fn proxy_config(workers: usize, upstream: &str) -> String {
    format!(
        "[global]\nworkers = {workers}\nadmin = \"127.0.0.1:{{admin}}\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\n[upstream.o]\n{upstream}\n"
    )
}

/// Starts the proxy with an admin port; returns it and the admin base URL.
fn start_proxy(workers: usize, upstream: &str) -> (Forecourt, String) {
    let admin = free_port();
    let fc = Forecourt::start(&proxy_config(workers, upstream).replace("{admin}", &admin.to_string()));
    wait_for_port(admin);
    (fc, format!("http://127.0.0.1:{admin}"))
}

fn servers(origins: &[&Origin]) -> String {
    origins.iter().map(|o| format!("\"{}\"", o.addr)).collect::<Vec<_>>().join(", ")
}

/// Sends `n` GETs, `parallel` at a time; the `x-origin` of each answer, counted.
async fn spread(url: &str, n: usize, parallel: usize) -> BTreeMap<String, usize> {
    let client = client();
    let mut tasks = Vec::new();
    for worker in 0..parallel {
        let (client, url) = (client.clone(), url.to_string());
        let count = n / parallel + usize::from(worker < n % parallel);
        tasks.push(tokio::spawn(async move {
            let mut seen = BTreeMap::new();
            for _ in 0..count {
                let req = http::Request::get(&url).body(Default::default()).unwrap();
                let r = send(&client, req).await;
                assert_eq!(r.status, 200, "{}", r.body);
                *seen.entry(r.header("x-origin").to_string()).or_insert(0) += 1;
            }
            seen
        }));
    }
    let mut total = BTreeMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *total.entry(k).or_insert(0) += v;
        }
    }
    total
}

/// The server that answers `GET /?user=K` for each key K in 0..n, `parallel` at a time.
async fn owners(url: &str, n: usize, parallel: usize) -> Vec<String> {
    let client = client();
    let mut tasks = Vec::new();
    for worker in 0..parallel {
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut owned = Vec::new();
            for key in (worker..n).step_by(parallel) {
                let req = http::Request::get(format!("{url}?user={key}")).body(Default::default()).unwrap();
                let r = send(&client, req).await;
                assert_eq!(r.status, 200, "{}", r.body);
                owned.push((key, r.header("x-origin").to_string()));
            }
            owned
        }));
    }
    let mut by_key = vec![String::new(); n];
    for t in tasks {
        for (key, origin) in t.await.unwrap() {
            by_key[key] = origin;
        }
    }
    by_key
}

/// `hash` over three servers, then four (a reload adds one): of 10,000 keys at most 30%
/// move, and each one that moves goes to the new server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_fourth_server_moves_few_keys() {
    let origins = [Origin::start("a"), Origin::start("b"), Origin::start("c"), Origin::start("d")];
    let upstream = |n: usize| {
        let first: Vec<&Origin> = origins[..n].iter().collect();
        format!("balance = \"hash\"\nkey = \"query:user\"\nservers = [{}]", servers(&first))
    };
    let admin = free_port();
    let config = |n: usize| proxy_config(2, &upstream(n)).replace("{admin}", &admin.to_string());
    let fc = Forecourt::start(&config(3));
    let before = owners(&fc.url("/"), 10_000, 16).await;
    fc.rewrite(&config(4));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reloaded:")), "{}", fc.stderr());
    let after = owners(&fc.url("/"), 10_000, 16).await;
    let moved: Vec<usize> = (0..10_000).filter(|&k| before[k] != after[k]).collect();
    assert!(moved.len() <= 3_000, "{} of 10000 keys moved", moved.len());
    assert!(moved.len() >= 1_000, "the new server takes its share: {} keys", moved.len());
    assert!(moved.iter().all(|&k| after[k] == "d"), "keys move only to the new server");
}

/// Weights 1:2:3 over 60,000 requests: each server's share within 2 points of its weight's,
/// for round robin and for random.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_set_the_shares() {
    let (a, b, c) = (Origin::start("a"), Origin::start("b"), Origin::start("c"));
    for balance in ["round_robin", "random"] {
        let upstream = format!(
            "balance = \"{balance}\"\nservers = [{{ addr = \"{}\", weight = 1 }}, {{ addr = \"{}\", weight = 2 }}, \
             {{ addr = \"{}\", weight = 3 }}]",
            a.addr, b.addr, c.addr
        );
        let (fc, _admin) = start_proxy(2, &upstream);
        let seen = spread(&fc.url("/"), 60_000, 16).await;
        for (name, weight) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
            let share = seen.get(name).copied().unwrap_or(0) as f64 / 60_000.0;
            assert!((share - weight / 6.0).abs() < 0.02, "{balance}: {name} had {share:.4} of {seen:?}");
        }
    }
}

/// Peak-EWMA (the default) sends almost nothing to a server 50 ms slower than the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_balancer_routes_around_a_slow_server() {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let slow = Origin::slow("slow", Duration::from_millis(50));
    let (fc, admin) = start_proxy(1, &format!("servers = [{}]", servers(&[&a, &b, &slow])));
    let seen = spread(&fc.url("/"), 1_500, 8).await;
    let to_slow = seen.get("slow").copied().unwrap_or(0);
    assert!(to_slow < 1_500 / 50, "the slow server took {to_slow} of 1500: {seen:?}");
    let api: serde_json::Value = serde_json::from_str(&get(&format!("{admin}/api/upstreams")).await.body).unwrap();
    let o = &api["upstreams"][0];
    assert_eq!(o["balance"], "p2c_ewma");
    let slow_entry = o["servers"].as_array().unwrap().iter().find(|s| s["server"] == slow.addr.to_string()).unwrap();
    assert!(slow_entry["latency_ms"].as_f64().unwrap() > 10.0, "{slow_entry}");
}

/// `least_conn` sends a request to the server with the fewest in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_conn_avoids_the_busy_server() {
    let (a, b) = (Origin::start("a"), Origin::start("b"));
    let (fc, _admin) = start_proxy(1, &format!("balance = \"least_conn\"\nservers = [{}]", servers(&[&a, &b])));
    // Four long requests occupy both servers equally ...
    let slow: Vec<_> = (0..4).map(|_| tokio::spawn(get_owned(fc.url("/slow?ms=1500")))).collect();
    assert!(eventually(Duration::from_secs(5), || a.hits() + b.hits() == 4));
    let (held_a, held_b) = (a.hits(), b.hits());
    assert_eq!((held_a, held_b), (2, 2), "in-flight requests are shared");
    // ... then one more long one on whichever: the next quick ones go to the other.
    let extra = tokio::spawn(get_owned(fc.url("/slow?ms=1500")));
    assert!(eventually(Duration::from_secs(5), || a.hits() + b.hits() == 5));
    let busier = if a.hits() == 3 { "a" } else { "b" };
    for _ in 0..5 {
        let r = get(&fc.url("/")).await;
        assert_ne!(r.header("x-origin"), busier);
    }
    for t in slow.into_iter().chain([extra]) {
        assert_eq!(t.await.unwrap(), 200);
    }
}

async fn get_owned(url: String) -> u16 {
    get(&url).await.status
}

/// `balance = "cookie"`: the first answer pins the client with a cookie; it holds for every
/// later request, moves to another server when its server is drained (admin API), and the
/// drained server takes no traffic until enabled again.
#[tokio::test]
async fn sticky_cookies_hold_and_fall_back() {
    let (a, b, c) = (Origin::start("a"), Origin::start("b"), Origin::start("c"));
    let upstream =
        format!("balance = \"cookie\"\ncookie = \"sid\"\ncookie_ttl = \"10m\"\nservers = [{}]", servers(&[&a, &b, &c]));
    let (fc, admin) = start_proxy(2, &upstream);
    let first = get(&fc.url("/")).await;
    let set_cookie = first.header("set-cookie").to_string();
    assert!(set_cookie.starts_with("sid=") && set_cookie.contains("Max-Age=600"), "{set_cookie}");
    assert!(!set_cookie.contains("127.0.0.1"), "the cookie does not reveal the server: {set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let pinned = first.header("x-origin").to_string();
    for _ in 0..30 {
        let r = get_with(&fc.url("/"), &[("cookie", &format!("theme=dark; {cookie}"))]).await;
        assert_eq!(r.header("x-origin"), pinned);
        assert_eq!(r.header("set-cookie"), "", "a pinned client is not told again");
    }

    let addr = [(&a, "a"), (&b, "b"), (&c, "c")].iter().find(|(_, name)| *name == pinned).unwrap().0.addr;
    let drained = post(&format!("{admin}/api/upstreams/o/servers/{addr}/drain")).await;
    assert_eq!(drained.status, 200, "{}", drained.body);
    let api = get(&format!("{admin}/api/upstreams")).await.body;
    assert!(api.contains("\"state\":\"draining\""), "{api}");
    let moved = get_with(&fc.url("/"), &[("cookie", &cookie)]).await;
    assert_ne!(moved.header("x-origin"), pinned, "the pinned server is drained");
    assert!(moved.header("set-cookie").starts_with("sid="), "the client is pinned anew");
    for _ in 0..10 {
        assert_ne!(get(&fc.url("/")).await.header("x-origin"), pinned);
    }
    assert_eq!(post(&format!("{admin}/api/upstreams/o/servers/{addr}/enable")).await.status, 200);
    assert_eq!(get_with(&fc.url("/"), &[("cookie", &cookie)]).await.header("x-origin"), pinned);
    assert_eq!(post(&format!("{admin}/api/upstreams/o/servers/10.9.9.9:1/drain")).await.status, 404);
}

async fn post(url: &str) -> Reply {
    send(&client(), http::Request::post(url).body(Default::default()).unwrap()).await
}

/// `backup` servers take requests only when no primary can; with nothing up, 503 with
/// Retry-After.
#[tokio::test]
async fn backups_take_over_only_when_every_primary_is_down() {
    let (a, b, spare) = (Origin::start("a"), Origin::start("b"), Origin::start("spare"));
    let spare_addr = spare.addr;
    let upstream = format!(
        "balance = \"round_robin\"\nservers = [\"{}\", \"{}\", {{ addr = \"{}\", backup = true }}]\n\
         [upstream.o.health]\ntype = \"tcp\"\ninterval = \"200ms\"\nfall = 1\nrise = 1",
        a.addr, b.addr, spare.addr
    );
    let (fc, admin) = start_proxy(1, &upstream);
    let seen = spread(&fc.url("/"), 40, 2).await;
    assert_eq!(seen.get("spare"), None, "{seen:?}");
    drop(a);
    let seen = spread(&fc.url("/"), 40, 2).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["b"], "one primary is enough: {seen:?}");
    drop(b);
    wait_until_down(&admin, 2).await;
    let seen = spread(&fc.url("/"), 40, 2).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["spare"], "{seen:?}");
    drop(spare);
    // Nothing listens any more: once the checks have seen it, 503 with a Retry-After.
    wait_until_down(&admin, 3).await;
    let r = get(&fc.url("/")).await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").parse::<u64>().is_ok_and(|s| s >= 1), "{:?}", r.headers);
    assert!(!r.body.contains(&spare_addr.to_string()));
}

/// Waits until the admin API shows `n` servers down.
async fn wait_until_down(admin: &str, n: usize) {
    let api = format!("{admin}/api/upstreams");
    for _ in 0..50 {
        if get(&api).await.body.matches("\"state\":\"down\"").count() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not {n} servers down: {}", get(&api).await.body);
}

/// One of two servers answers 503 to everything; retries on 503 are on. Counted at the
/// origins, retries stay within the budget (20% of requests plus 5 a second), and some
/// clients still see the 503 once it is spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stay_within_their_budget() {
    let good = Origin::start("good");
    let (bad, bad_hits) =
        raw_origin(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let upstream = format!(
        "balance = \"round_robin\"\nservers = [\"{}\", \"{bad}\"]\n[upstream.o.eject]\nfailures = 0\n\
         [upstream.o.retry]\nattempts = 2\nstatuses = [503]\nbudget_percent = 20\nbudget_min_per_sec = 5",
        good.addr
    );
    let (fc, admin) = start_proxy(2, &upstream);
    let started = Instant::now();
    let n = 2_000;
    let client = client();
    let mut unavailable = 0;
    for _ in 0..n {
        let r = send(&client, http::Request::get(fc.url("/")).body(Default::default()).unwrap()).await;
        if r.status == 503 {
            assert_eq!(r.body, "", "the 503 is the origin's, not the proxy's");
            unavailable += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64().ceil();
    let at_origins = good.hits() + bad_hits.load(Ordering::SeqCst);
    let retries = at_origins
        .checked_sub(n)
        .unwrap_or_else(|| panic!("{at_origins} requests reached the origins, fewer than {n}"));
    let budget = 0.2 * n as f64 + 5.0 * (seconds + 1.0);
    assert!(retries as f64 <= budget, "{retries} retries for {n} requests in {seconds} s (budget {budget})");
    assert!(retries >= 300, "the budget is spent: {retries} retries");
    assert!(unavailable > 0, "once the budget is spent, the 503 reaches the client");
    assert_eq!(unavailable + good.hits(), n, "every request is answered by the good server or the 503");
    let text = get(&format!("{admin}/metrics")).await.body;
    let series = format!("forecourt_upstream_retries_total{{upstream=\"o\",server=\"{}\"}}", good.addr);
    assert!(metric(&text, &series) > 0.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_kept_for_retries_where_the_method_or_the_route_allows() {
    let good = Origin::start("good");
    // A real HTTP server that reads each request whole and answers 503.
    let unavailable_server = Forecourt::start(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{port}\"\n\
         [[route]]\nrespond = { status = 503, body = \"\" }\n",
    );
    let bad = unavailable_server.addr();
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\npath = \"/any/\"\nupstream = \"o\"\nretry_non_idempotent = true\nretry_buffer = \"4k\"\n\
         request_buffer = \"4k\"\n\
         [[route]]\npath = \"/whole/\"\nupstream = \"o\"\nretry_non_idempotent = true\nretry_buffer = \"4k\"\n\
         [[route]]\npath = \"/\"\nupstream = \"o\"\n\
         [upstream.o]\nbalance = \"round_robin\"\nservers = [\"{}\", \"{bad}\"]\n[upstream.o.eject]\nfailures = 0\n\
         [upstream.o.retry]\nattempts = 2\nstatuses = [503]\nbudget_percent = 100\n",
        good.addr
    ));
    let client = client();
    // How many of 10 requests came back 503 (the bad server's answer, not retried); every
    // other one reached the good server with its whole body.
    let unavailable = |method: &'static str, path: &'static str, bytes: usize| {
        let (client, url) = (client.clone(), fc.url(path));
        async move {
            let mut unavailable = 0;
            for _ in 0..10 {
                let req = http::Request::builder().method(method).uri(&url).body(vec![b'x'; bytes].into()).unwrap();
                let r = send(&client, req).await;
                match r.status {
                    503 => unavailable += 1,
                    200 => assert!(r.body.contains(&format!("body-bytes={bytes}\n")), "{}", r.body),
                    other => panic!("{other}: {}", r.body),
                }
            }
            unavailable
        }
    };
    // Round robin over the two servers: half the first tries meet the 503.
    assert_eq!(unavailable("PUT", "/put", 1000).await, 0, "an idempotent method's kept body is sent again");
    assert_eq!(unavailable("POST", "/any/post", 1000).await, 0, "the route lets a POST be sent again");
    assert_eq!(unavailable("POST", "/any/post", 0).await, 0, "a POST without a body too");
    assert_eq!(unavailable("POST", "/post", 1000).await, 5, "a POST is not repeated by default");
    assert_eq!(unavailable("POST", "/post", 0).await, 5, "nor without a body");
    assert_eq!(unavailable("POST", "/any/post", 10_000).await, 5, "a body over retry_buffer is not kept");
    // The default request_buffer (64k) reads such a body whole before the first try: kept.
    assert_eq!(unavailable("POST", "/whole/post", 10_000).await, 0, "a body read whole is sent again");
}

/// An origin process: `forecourt` answering every request with its name.
fn origin_process(name: &str) -> Forecourt {
    Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"{{dir}}/access.log\"\n[[listen]]\n\
         addr = \"127.0.0.1:{{port}}\"\n[[route]]\nrespond = {{ status = 200, body = \"{name}\" }}\n"
    ))
}

fn served(origin: &Forecourt) -> usize {
    std::fs::read_to_string(origin.dir.path("access.log")).map_or(0, |log| log.lines().count())
}

/// `wrk` runs against three servers; one is killed (SIGKILL) and restarted. Retries hide
/// the failure from every request, and the restarted server takes traffic again within
/// two health-check intervals.
#[test]
fn a_killed_server_costs_no_request_and_returns_within_two_intervals() {
    let mut origins: Vec<Forecourt> = ["a", "b", "c"].iter().map(|n| origin_process(n)).collect();
    let list = origins.iter().map(|o| format!("\"127.0.0.1:{}\"", o.port)).collect::<Vec<_>>().join(", ");
    let interval = Duration::from_millis(500);
    let upstream =
        format!("servers = [{list}]\n[upstream.o.health]\npath = \"/\"\ninterval = \"500ms\"\nrise = 2\nfall = 2");
    let (fc, admin) = start_proxy(2, &upstream);
    let wrk = std::process::Command::new("wrk")
        .args(["-t2", "-c16", "-d6s", &fc.url("/")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wrk (apt-get install wrk)");

    std::thread::sleep(Duration::from_millis(1500));
    origins[0].signal(libc::SIGKILL);
    let _ = origins[0].child.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let before = served(&origins[0]);
    origins[0].restart();
    let restarted = Instant::now();
    let back = eventually(Duration::from_secs(3), || served(&origins[0]) > before);
    let took = restarted.elapsed();

    let out = wrk.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(!report.contains("Non-2xx"), "a client saw a failure:\n{report}");
    assert!(!report.contains("Socket errors"), "a client saw a failure:\n{report}");
    assert!(back, "the restarted server took no traffic within 3 s");
    assert!(took <= interval * 2 + Duration::from_millis(100), "back after {took:?}, more than two intervals");
    let api = std::process::Command::new("curl").args(["-s", &format!("{admin}/api/upstreams")]).output().unwrap();
    let api = String::from_utf8_lossy(&api.stdout);
    assert!(api.contains("\"last_check\":{\"at_unix\""), "{api}");
    assert_eq!(api.matches("\"state\":\"up\"").count(), 3, "{api}");
}

/// An origin process answering every request with `status` and its name, without a log.
fn origin_config(name: &str, status: u16) -> String {
    format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nrespond = {{ status = {status}, body = \"{name}\" }}\n"
    )
}

/// The failover experiment of issue #20 under the default retry budget: 256
/// connections over three servers, health checks every second, retries on 502/503. One
/// server is killed (SIGKILL) mid-run: the requests in flight on it are retried, none
/// reaches a client. Then another turns to answering 503: none of those reaches a client
/// either. (That the budget still caps a storm when every server fails is
/// `retries_stay_within_their_budget` and the unit tests of `retry.rs`.)
#[test]
fn the_default_budget_loses_nothing_when_a_server_dies_or_turns_503_under_load() {
    let origins: Vec<Forecourt> = ["a", "b", "c"].iter().map(|n| Forecourt::start(&origin_config(n, 200))).collect();
    let list = origins.iter().map(|o| format!("\"127.0.0.1:{}\"", o.port)).collect::<Vec<_>>().join(", ");
    let upstream = format!(
        "servers = [{list}]\n[upstream.o.health]\npath = \"/\"\ninterval = \"1s\"\n\
         [upstream.o.retry]\nstatuses = [502, 503]\n"
    );
    let (fc, _admin) = start_proxy(2, &upstream);
    let wrk = |seconds: u32| {
        std::process::Command::new("wrk")
            .args(["-t2", "-c256", &format!("-d{seconds}s"), &fc.url("/")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("wrk (apt-get install wrk)")
    };
    let check = |run: std::process::Child, episode: &str| {
        let out = run.wait_with_output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{report}");
        assert!(report.contains("requests in"), "{report}");
        assert!(!report.contains("Non-2xx"), "{episode}: a client saw a failure:\n{report}");
        assert!(!report.contains("Socket errors"), "{episode}: a client saw a failure:\n{report}");
    };

    let run = wrk(5);
    std::thread::sleep(Duration::from_millis(2500));
    origins[0].signal(libc::SIGKILL);
    check(run, "SIGKILL");

    let run = wrk(5);
    std::thread::sleep(Duration::from_millis(2500));
    origins[1].rewrite(&origin_config("b", 503));
    origins[1].signal(libc::SIGHUP);
    check(run, "503");
}

/// A route split 90/10 between two upstreams: the shares follow the weights, a header sends
/// a request to the canary whatever the weights, and stickiness by address or by cookie
/// keeps a client on one side; a reload changes the weights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splits_follow_weights_overrides_and_stickiness() {
    let (stable, canary) = (Origin::start("stable"), Origin::start("canary"));
    let config = |weights: (u32, u32), sticky: &str| {
        format!(
            "[global]\nworkers = 2\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
             [[route]]\nname = \"shop\"\nsplit_sticky = \"{sticky}\"\nsplit = [{{ upstream = \"v1\", weight = {} }}, \
             {{ upstream = \"v2\", weight = {}, when_header = \"X-Canary: always\" }}]\n\
             [upstream.v1]\nservers = [\"{}\"]\n[upstream.v2]\nservers = [\"{}\"]\n",
            weights.0, weights.1, stable.addr, canary.addr
        )
    };
    let fc = Forecourt::start(&config((90, 10), "none"));
    let seen = spread(&fc.url("/"), 3_000, 8).await;
    let share = seen.get("canary").copied().unwrap_or(0) as f64 / 3_000.0;
    assert!((share - 0.1).abs() < 0.03, "the canary had {share:.3}: {seen:?}");
    for _ in 0..10 {
        assert_eq!(get_with(&fc.url("/"), &[("x-canary", "always")]).await.header("x-origin"), "canary");
    }

    // By address: one client, one side.
    let reload = |text: String, n: usize| {
        fc.rewrite(&text);
        fc.signal(libc::SIGHUP);
        assert!(
            eventually(Duration::from_secs(5), || fc.stderr().matches("reloaded:").count() >= n),
            "{}",
            fc.stderr()
        );
    };
    reload(config((50, 50), "ip"), 1);
    let sides = spread(&fc.url("/"), 40, 4).await;
    assert_eq!(sides.len(), 1, "one client stays on one side: {sides:?}");

    // By cookie: the first answer names the side; the cookie keeps it until its weight is 0.
    reload(config((50, 50), "cookie"), 2);
    let first = get(&fc.url("/")).await;
    let cookie = first.header("set-cookie").split(';').next().unwrap().to_string();
    assert!(cookie.starts_with("forecourt_split_shop=v"), "{cookie}");
    let side = first.header("x-origin").to_string();
    for _ in 0..20 {
        let r = get_with(&fc.url("/"), &[("cookie", &cookie)]).await;
        assert_eq!(r.header("x-origin"), side);
        assert_eq!(r.header("set-cookie"), "");
    }
    let (w1, w2) = if side == "stable" { (0, 1) } else { (1, 0) };
    reload(config((w1, w2), "cookie"), 3);
    assert_ne!(get_with(&fc.url("/"), &[("cookie", &cookie)]).await.header("x-origin"), side);
}

/// `max_requests = 2` with a queue of 1: two requests are served at once, a third waits
/// for a slot, a fourth gets 503 at once.
#[tokio::test]
async fn an_upstream_limit_queues_then_refuses() {
    let origin = Origin::start("o");
    let upstream = format!("servers = [\"{}\"]\nmax_requests = 2\nqueue = 1\nqueue_timeout = \"5s\"", origin.addr);
    let (fc, _admin) = start_proxy(1, &upstream);
    let url = fc.url("/slow?ms=700");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..3 {
        tasks.push(tokio::spawn(get_owned(url.clone())));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let refused = get(&url).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), "1");
    assert!(started.elapsed() < Duration::from_millis(600), "refused at once, not after the wait");
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert!(started.elapsed() >= Duration::from_millis(1400), "the third waited for a slot");
    assert_eq!(origin.hits(), 3);
}

/// `mirror`: every request's copy reaches the shadow upstream, whose slowness never delays
/// the real answer.
#[tokio::test]
async fn mirrored_copies_reach_the_shadow_without_delaying_the_answer() {
    let real = Origin::start("real");
    let shadow = Origin::slow("shadow", Duration::from_millis(400));
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nupstream = \"real\"\nmirror = {{ upstream = \"shadow\" }}\n\
         [upstream.real]\nservers = [\"{}\"]\n[upstream.shadow]\nservers = [\"{}\"]\n",
        real.addr, shadow.addr
    ));
    for i in 0..20 {
        let started = Instant::now();
        let r = get(&fc.url(&format!("/item?n={i}"))).await;
        assert_eq!(r.header("x-origin"), "real");
        assert!(started.elapsed() < Duration::from_millis(300), "the shadow's 400 ms showed: {:?}", started.elapsed());
    }
    assert!(eventually(Duration::from_secs(5), || shadow.hits() == 20), "shadow saw {}", shadow.hits());
    assert_eq!(real.hits(), 20);

    // A POST with a body of known length: the copy carries the body too.
    let client = client();
    for _ in 0..5 {
        let started = Instant::now();
        let req = http::Request::post(fc.url("/form")).body(vec![b'p'; 3000].into()).unwrap();
        let r = send(&client, req).await;
        assert!(r.body.contains("method=POST\n") && r.body.contains("body-bytes=3000\n"), "{}", r.body);
        assert!(started.elapsed() < Duration::from_millis(300), "the shadow's 400 ms showed: {:?}", started.elapsed());
    }
    let shadow_bytes = || shadow.echoed_bytes.load(Ordering::SeqCst);
    assert!(eventually(Duration::from_secs(5), || shadow_bytes() == 5 * 3000), "shadow read {} bytes", shadow_bytes());
    assert_eq!(shadow.hits(), 25);
    assert_eq!(real.echoed_bytes.load(Ordering::SeqCst), 5 * 3000);
}
