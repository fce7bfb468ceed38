//! Shared state when Redis holds or answers what it should not: a ban longer than ten
//! years (asked for, or written by an earlier version), a limit's key this version could
//! not have written, a call Redis refuses (out of memory), a Redis that hangs. Each keeps
//! serving, and says what happened.
use super::common::origin::Origin;
use super::common::redis_server::RedisServer;
use super::common::*;
use super::{ban_through, get_from, shared_config};
use http_body_util::Full;
use std::time::{Duration, Instant};

/// An origin and a Forecourt whose limit (`rate`) and bans are shared through `redis`,
/// once Redis has been found (its first check); the origin, the admin port, Forecourt.
async fn sharing(redis: &RedisServer, rate: &str) -> (Origin, u16, Forecourt) {
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = Forecourt::start(&shared_config(&origin, admin, redis, rate));
    tokio::time::sleep(Duration::from_millis(700)).await;
    (origin, admin, fc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_asked_for_past_ten_years_is_shared_as_ten_and_keeps_redis_up() {
    let redis = RedisServer::start();
    // A ban ending in 300 million years, as an earlier version wrote one: read as ten.
    assert_eq!(redis.cli(&["zadd", "{forecourt:bans}:until", "1e19", "127.0.0.11"]), "1");
    let (_origin, admin, fc) = sharing(&redis, "10/s").await;
    let endless = http::Request::post(format!("http://127.0.0.1:{admin}/api/bans"))
        .body(Full::from(r#"{"address": "127.0.0.9", "duration": 18446744073709551615}"#))
        .unwrap();
    assert_eq!(send(&client(), endless).await.status, 200);
    // The next ban's script reads the longest ban's end to set the keys' expiry.
    ban_through(admin, "127.0.0.10").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let end_ms: f64 = redis.cli(&["zscore", "{forecourt:bans}:until", "127.0.0.9"]).parse().unwrap();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as f64;
    let ten_years_ms = 3650.0 * 86_400_000.0;
    assert!(
        (now_ms + ten_years_ms - 60_000.0..=now_ms + ten_years_ms).contains(&end_ms),
        "the shared ban ends in ten years: {end_ms} (now {now_ms})"
    );
    assert!(redis.cli(&["pttl", "{forecourt:bans}:until"]).parse::<i64>().unwrap() > 0, "the keys expire");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_redis_up"), 1.0, "{}", fc.stderr());
    assert!(!fc.stderr().contains("Redis is unreachable"), "{}", fc.stderr());
    let listed = get(&format!("http://127.0.0.1:{admin}/api/bans")).await.body;
    assert!(listed.contains("127.0.0.11"), "the old ban was read: {listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_limits_key_damaged_in_redis_counts_as_none() {
    let redis = RedisServer::start();
    let (_origin, admin, fc) = sharing(&redis, "1/min").await;
    let (from, url) = (client_from("127.0.0.2"), fc.url("/"));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get_from(&from, &url).await.status);
    }
    assert_eq!(statuses, [200, 200, 429], "1/min with a burst of 1");
    let key = redis.cli(&["keys", "forecourt:limit:shared:*"]);
    // A time too far ahead (which read back overflowed the answer and panicked the
    // worker), not a time at all, NaN: each counts as no state, so the client passes.
    for damaged in ["1e30", "x", "nan", "-inf"] {
        assert_eq!(redis.cli(&["set", &key, damaged]), "OK");
        assert_eq!(get_from(&from, &url).await.status, 200, "the key held {damaged}\n{}", fc.stderr());
    }
    let refused = get_from(&from, &url).await;
    assert_eq!(refused.status, 200, "the burst's second");
    let refused = get_from(&from, &url).await;
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_redis_up"), 1.0, "{}", fc.stderr());
    assert!(!fc.stderr().contains("panicked") && !fc.stderr().contains("Redis is unreachable"), "{}", fc.stderr());
}

/// Redis out of memory refuses the limit's script (`OOM command not allowed`): the
/// request is served on local state, the log says Redis refused the call (not that it is
/// unreachable; once a minute, however often it refuses), and once Redis has memory again
/// the limit is shared again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_redis_refuses_falls_back_to_local_state_and_says_why() {
    let redis = RedisServer::start();
    let (_origin, admin, fc) = sharing(&redis, "1/min").await;
    assert_eq!(redis.cli(&["config", "set", "maxmemory", "1"]), "OK");
    assert_eq!(redis.cli(&["keys", "forecourt:limit:shared:*"]), "", "nothing written yet");
    let (from, url) = (client_from("127.0.0.2"), fc.url("/"));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get_from(&from, &url).await.status);
    }
    assert_eq!(statuses, [200, 200, 429], "the local limit, 1/min with a burst of 1\n{}", fc.stderr());
    // Each check finds Redis up and the next call is refused again: said once a minute
    // (not twice a check), with its coming back.
    for _ in 0..25 {
        get_from(&from, &url).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = fc.stderr();
    assert!(log.contains("Redis refused a call") && log.contains("OOM"), "{log}");
    assert!(!log.contains("Redis is unreachable"), "{log}");
    assert_eq!(log.matches("Redis refused a call").count(), 1, "{log}");
    assert_eq!(log.matches("Redis is reachable").count(), 2, "at start, and after the refusal that was said\n{log}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert!(metric(&metrics, "forecourt_redis_errors_total") >= 3.0, "every refusal counted\n{metrics}");
    assert_eq!(redis.cli(&["config", "set", "maxmemory", "0"]), "OK");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let from = client_from("127.0.0.3");
    let statuses = [get_from(&from, &url).await.status, get_from(&from, &url).await.status];
    assert_eq!(statuses, [200, 200]);
    // No key was written while Redis had no memory: one now is the limit shared again.
    assert!(!redis.cli(&["keys", "forecourt:limit:shared:*"]).is_empty(), "shared again\n{}", fc.stderr());
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_redis_up"), 1.0, "{}", fc.stderr());
}

/// A Redis that hangs (SIGSTOP: connections stay open, nothing answers, as a paused
/// container or a stalled host) costs a request at most `[redis] timeout` (200 ms here),
/// never a 5xx: the limit goes local within a second and `forecourt_redis_up` says 0;
/// when Redis goes on, the limit is shared again and `forecourt_redis_up` says 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_hangs_costs_a_request_at_most_its_timeout() {
    let redis = RedisServer::start();
    let (_origin, admin, fc) = sharing(&redis, "1000/s").await;
    let up = || async { metric(&get(&format!("http://127.0.0.1:{admin}/metrics")).await.body, "forecourt_redis_up") };
    assert_eq!(up().await, 1.0);
    let (from, url) = (client_from("127.0.0.2"), fc.url("/"));
    redis.signal(libc::SIGSTOP);
    let hung = Instant::now();
    let (mut slowest, mut went_down) = (Duration::ZERO, None);
    while hung.elapsed() < Duration::from_secs(2) {
        let asked = Instant::now();
        let status = get_from(&from, &url).await.status;
        slowest = slowest.max(asked.elapsed());
        assert_eq!(status, 200, "{}", fc.stderr());
        if went_down.is_none() && up().await == 0.0 {
            went_down = Some(hung.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    redis.signal(libc::SIGCONT);
    let went_down = went_down.expect("forecourt_redis_up said 0");
    println!("Redis hung: forecourt_redis_up 0 after {went_down:?}; the slowest request {slowest:?}");
    assert!(went_down < Duration::from_millis(1200), "local within a second: {went_down:?}");
    assert!(slowest < Duration::from_millis(600), "a request waits at most the timeout: {slowest:?}");
    assert!(fc.stderr().contains("Redis is unreachable"), "{}", fc.stderr());
    let back = Instant::now();
    while up().await != 1.0 {
        assert!(back.elapsed() < Duration::from_secs(5), "{}", fc.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fallbacks = || async {
        metric(&get(&format!("http://127.0.0.1:{admin}/metrics")).await.body, "forecourt_redis_fallbacks_total")
    };
    let before = fallbacks().await;
    assert!(before > 0.0, "decided locally while Redis hung");
    for _ in 0..3 {
        assert_eq!(get_from(&from, &url).await.status, 200);
    }
    assert_eq!(fallbacks().await, before, "decided in Redis again\n{}", fc.stderr());
}
