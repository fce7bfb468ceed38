//! End-to-end: rate limits (`[limits.NAME]`) through the real binary, with clients on
//! distinct loopback addresses: a flooding address is refused while another is served,
//! a delaying limit holds requests to the rate, `[global] limits` apply before routing
//! and keep their buckets across a reload, and bad options point at the mistake.
mod common;

use common::origin::Origin;
use common::*;
use http_body_util::Full;
use std::time::{Duration, Instant};

fn config(origin: &Origin, admin: u16, limits: &str, route_extra: &str, global_extra: &str) -> String {
    format!(
        "[global]\nworkers = 2\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"{{dir}}/access.log\"\n{global_extra}\n\
         {limits}\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\npath = \"/\"\nupstream = \"o\"\n{route_extra}\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    )
}

async fn get_from(c: &HttpClient, url: &str) -> Reply {
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
    let write = |rate: &str| {
        let limits = format!("[limits.all]\nrate = \"{rate}\"\n");
        config(&origin, admin, &limits, "hosts = [\"only.example\"]", "limits = [\"all\"]")
    };
    let fc = Forecourt::start(&write("1/min"));
    let c = client_from("127.0.0.4");
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 404, "no route for this host: counted all the same");
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 429, "refused before routing");
    let reload = || async {
        let req = http::Request::post(format!("http://127.0.0.1:{admin}/reload")).body(Full::default()).unwrap();
        send(&client(), req).await
    };
    assert_eq!(reload().await.status, 200);
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 429, "the same limit keeps its buckets");
    fc.rewrite(&write("2/min"));
    assert_eq!(reload().await.status, 200);
    assert_eq!(get_from(&c, &fc.url("/")).await.status, 404, "a changed limit starts afresh");
}

#[test]
fn bad_limit_options_point_at_the_mistake() {
    let dir = TempDir::new("limits-check");
    let path = dir.file(
        "bad.toml",
        "[global]\nlimits = [\"nope\"]\n[limits.a]\nrate = \"10/fortnight\"\n[limits.b]\nrate = \"1/s\"\nkey = \"addr\"\n\
         action = \"drop\"\nstore = \"redis\"\n[[route]]\nrespond = { status = 200 }\nlimits = [\"b\", \"zz\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "bad.toml:2:11: unknown limit `nope`",
        "bad.toml:4:8: bad rate: unknown unit `fortnight`",
        "bad.toml:7:7: unknown key part `addr`",
        "bad.toml:8:10: unknown action `drop`",
        "bad.toml:9:9: store \"redis\" needs [redis]",
        "bad.toml:12:16: unknown limit `zz`",
    ] {
        assert!(text.contains(expected), "{expected}\n{text}");
    }
}
