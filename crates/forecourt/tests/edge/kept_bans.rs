//! Bans outlive a restart without Redis: kept in `data_dir`'s `bans` file as they change,
//! and read back before the first connection is accepted — a rule's ban and the admin
//! API's, with what remains of them; a lifted one stays lifted; one made just before a
//! graceful stop is written on the way out. With Redis, the same file serves a start
//! that cannot reach it, until Redis answers; a Redis that lost its data is taught the
//! bans again.
use super::common::origin::Origin;
use super::common::redis_server::RedisServer;
use super::common::*;
use super::{ban_through, config_with, exchange_from, shared_config};
use http_body_util::Full;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bans_outlive_a_restart_through_the_data_dir() {
    let origin = Origin::start("o");
    let admin = free_port();
    let tables = "[bans]\nduration = \"1h\"\n\
                  [bans.rules.scanners]\non = [\"status:404\"]\ncount = 2\nwindow = \"1m\"\nduration = \"30m\"\n";
    let mut cfg = config_with(&origin, admin, tables, "", "", "");
    cfg.push_str("[[route]]\npath = \"/missing\"\nrespond = { status = 404 }\n");
    let mut fc = Forecourt::start(&cfg);
    // A rule bans 127.0.0.2; the API bans 127.0.0.3 and 127.0.0.4, then lifts the latter.
    let two = "GET /missing HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_eq!(statuses(&exchange_from("127.0.0.2", fc.addr(), two.as_bytes()).await), [404, 404]);
    ban_through(admin, "127.0.0.3").await;
    ban_through(admin, "127.0.0.4").await;
    let api = format!("http://127.0.0.1:{admin}/api/bans");
    let lift = http::Request::delete(format!("{api}/127.0.0.4")).body(Full::default()).unwrap();
    assert_eq!(send(&client(), lift).await.status, 200);
    // Written within a second or so (`XDG_DATA_HOME` is the test's `data` folder).
    let file = fc.dir.path("data/forecourt/bans");
    let written = || std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(5), || written().contains(" 127.0.0.3 api") && !written().contains("127.0.0.4")),
        "{}",
        written()
    );
    assert!(written().contains(" 127.0.0.2 rule scanners\n"), "{}", written());

    // Killed (no chance to write on the way out) and started again: banned from the start.
    fc.restart();
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_eq!(exchange_from("127.0.0.2", fc.addr(), whole).await, "", "closed at accept: {}", fc.stderr());
    assert_eq!(exchange_from("127.0.0.3", fc.addr(), whole).await, "", "closed at accept");
    assert_eq!(statuses(&exchange_from("127.0.0.4", fc.addr(), whole).await), [200], "lifted before the restart");
    assert!(fc.stderr().contains("bans read back"), "{}", fc.stderr());
    let listed: serde_json::Value = serde_json::from_str(&get(&api).await.body).unwrap();
    let bans: Vec<(&str, &str, u64)> = listed["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (b["address"].as_str().unwrap(), b["source"].as_str().unwrap(), b["remaining_seconds"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(bans.len(), 2, "{listed}");
    assert_eq!((bans[0].0, bans[0].1), ("127.0.0.3", "api"));
    assert_eq!((bans[1].0, bans[1].1), ("127.0.0.2", "rule:scanners"));
    assert!((3500..=3600).contains(&bans[0].2) && (1700..=1800).contains(&bans[1].2), "what remains: {listed}");

    // A ban made just before a graceful stop (SIGTERM) is written on the way out.
    ban_through(admin, "127.0.0.7").await;
    fc.signal(libc::SIGTERM);
    assert_eq!(fc.wait_exit(Duration::from_secs(10)), Some(0));
    fc.restart();
    assert_eq!(exchange_from("127.0.0.7", fc.addr(), whole).await, "", "kept through a graceful stop");
}

/// An instance that starts while Redis is down enforces the bans it kept on disk (before,
/// it had none until Redis came back); when Redis answers, it keeps those Redis holds and
/// lifts the one another instance lifted meanwhile; a ban made while Redis was down is
/// written to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_at_a_start_the_bans_on_disk_hold_until_redis_answers() {
    let mut redis = RedisServer::start();
    let origin = Origin::start("o");
    let admin = free_port();
    let mut fc = Forecourt::start(&shared_config(&origin, admin, &redis, "1000/s"));
    for address in ["127.0.0.5", "127.0.0.6", "127.0.0.7"] {
        ban_through(admin, address).await;
    }
    let file = fc.dir.path("data/forecourt/bans");
    let written = || std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(5), || ["5", "6", "7"]
            .iter()
            .all(|n| written().contains(&format!(" 127.0.0.{n} ")))),
        "kept on disk with Redis too: {}",
        written()
    );
    // Killed; meanwhile another instance lifts 127.0.0.6 (in Redis, as its lift writes it);
    // Redis saves what it holds and goes down too.
    fc.signal(libc::SIGKILL);
    assert!(fc.wait_exit(Duration::from_secs(5)).is_none(), "killed, no exit code");
    redis.cli(&["zrem", "{forecourt:bans}:until", "127.0.0.6"]);
    redis.cli(&["hdel", "{forecourt:bans}:source", "127.0.0.6"]);
    assert_eq!(redis.cli(&["save"]), "OK");
    redis.stop();

    fc.restart();
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    for address in ["127.0.0.5", "127.0.0.6", "127.0.0.7"] {
        assert_eq!(exchange_from(address, fc.addr(), whole).await, "", "{address} banned while Redis is down");
    }
    assert_eq!(statuses(&exchange_from("127.0.0.9", fc.addr(), whole).await), [200]);
    let up = || async { metric(&get(&format!("http://127.0.0.1:{admin}/metrics")).await.body, "forecourt_redis_up") };
    assert_eq!(up().await, 0.0);
    ban_through(admin, "127.0.0.8").await;

    redis.resume(); // with what it saved
    let back = Instant::now();
    while statuses(&exchange_from("127.0.0.6", fc.addr(), whole).await) != [200] {
        assert!(back.elapsed() < Duration::from_secs(5), "the ban lifted elsewhere holds: {}", fc.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(up().await, 1.0);
    for address in ["127.0.0.5", "127.0.0.7", "127.0.0.8"] {
        assert_eq!(exchange_from(address, fc.addr(), whole).await, "", "{address} still banned");
    }
    assert!(
        redis.cli(&["zscore", "{forecourt:bans}:until", "127.0.0.8"]).parse::<f64>().is_ok(),
        "made meanwhile, written"
    );
    assert!(redis.cli(&["zscore", "{forecourt:bans}:until", "127.0.0.6"]).is_empty(), "read back, not announced");
    assert!(fc.stderr().contains("Redis no longer holds are lifted"), "{}", fc.stderr());
}

/// A Redis restarted without its data (or flushed, or replaced) is taught the bans again,
/// as HAProxy's peers teach a restarted peer: a running instance writes back every ban it
/// holds, another instance's among them (whose maker is gone); an instance that starts
/// then keeps the bans it kept on disk and writes them back, where it would otherwise
/// have lifted them as lifted elsewhere. Redis's epoch tells the two cases apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_lost_its_data_is_taught_the_bans_again() {
    let mut redis = RedisServer::start();
    let origin = Origin::start("o");
    let (admin_a, admin_b) = (free_port(), free_port());
    let mut a = Forecourt::start(&shared_config(&origin, admin_a, &redis, "1000/s"));
    let mut b = Forecourt::start(&shared_config(&origin, admin_b, &redis, "1000/s"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    ban_through(admin_a, "127.0.0.5").await;
    ban_through(admin_b, "127.0.0.6").await;
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let file = b.dir.path("data/forecourt/bans");
    let written = || std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        eventually(Duration::from_secs(5), || written().contains(" 127.0.0.5 shared ")
            && written().contains(" 127.0.0.6 api")
            && written().contains("# redis epoch ")),
        "b keeps both and Redis's epoch: {}",
        written()
    );
    let in_redis = |redis: &RedisServer, address: &str| {
        redis.cli(&["zscore", "{forecourt:bans}:until", address]).parse::<f64>().is_ok()
    };

    // b is killed, and Redis comes back empty: a writes back its own ban and b's.
    b.signal(libc::SIGKILL);
    assert!(b.wait_exit(Duration::from_secs(5)).is_none());
    redis.stop();
    redis.resume();
    assert!(
        eventually(Duration::from_secs(5), || in_redis(&redis, "127.0.0.5") && in_redis(&redis, "127.0.0.6")),
        "written back by a: {}",
        a.stderr()
    );
    assert!(a.stderr().contains("Redis has lost the shared bans"), "{}", a.stderr());

    // a is killed too, Redis comes back empty again, and b starts: its bans on disk hold
    // and Redis is taught them.
    a.signal(libc::SIGKILL);
    assert!(a.wait_exit(Duration::from_secs(5)).is_none());
    redis.stop();
    redis.resume();
    b.restart();
    let up = || async { metric(&get(&format!("http://127.0.0.1:{admin_b}/metrics")).await.body, "forecourt_redis_up") };
    let found = Instant::now();
    while up().await != 1.0 {
        assert!(found.elapsed() < Duration::from_secs(5), "{}", b.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        eventually(Duration::from_secs(5), || in_redis(&redis, "127.0.0.5") && in_redis(&redis, "127.0.0.6")),
        "written back by b: {}",
        b.stderr()
    );
    for address in ["127.0.0.5", "127.0.0.6"] {
        assert_eq!(exchange_from(address, b.addr(), whole).await, "", "{address} still banned: {}", b.stderr());
    }
    assert_eq!(statuses(&exchange_from("127.0.0.9", b.addr(), whole).await), [200]);
    assert!(!b.stderr().contains("Redis no longer holds are lifted"), "{}", b.stderr());
}
