//! A limit shared through Redis (`store = "redis"`) across reloads that change its rate:
//! each client's debt is the same number of requests at the new rate, as the local
//! buckets keep it (`global_limits_apply_before_routing_and_survive_reloads`), so a limit
//! tightened under attack gives no client a fresh burst.
use super::common::origin::Origin;
use super::common::redis_server::RedisServer;
use super::common::*;
use super::{get_from, shared_config};
use http_body_util::Full;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_limits_changed_rate_keeps_each_clients_debt_in_requests() {
    let redis = RedisServer::start();
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = Forecourt::start(&shared_config(&origin, admin, &redis, "1/min"));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let reload = |rate: &str| {
        fc.rewrite(&shared_config(&origin, admin, &redis, rate));
        async move {
            let req = http::Request::post(format!("http://127.0.0.1:{admin}/reload")).body(Full::default()).unwrap();
            assert_eq!(send(&client(), req).await.status, 200);
        }
    };
    let (from, url) = (client_from("127.0.0.2"), fc.url("/"));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(get_from(&from, &url).await.status);
    }
    assert_eq!(statuses, [200, 200, 429], "1/min with a burst of 1");
    // Two requests ahead at 1/min (two minutes) are two at 2/min (one minute), past its
    // half-minute burst: still refused. Kept as a time, the two minutes were past
    // anything 2/min allows and counted as none: a fresh burst.
    reload("2/min").await;
    let refused = get_from(&from, &url).await;
    assert_eq!(refused.status, 429, "a changed rate gives no fresh burst");
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((25..=31).contains(&retry), "one request past the burst at 2/min: Retry-After {retry}");
    // Loosened to 60/min: the two requests ahead are two seconds now, not a minute.
    reload("60/min").await;
    assert_eq!(get_from(&from, &url).await.status, 429, "still two requests ahead");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(get_from(&from, &url).await.status, 200, "its debt at the new rate paid");
    let stored = redis.cli(&["keys", "forecourt:limit:shared:*"]);
    let value = redis.cli(&["get", &stored]);
    assert!(value.ends_with(":1000000"), "the TAT and the emission it was written under: {value}");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_redis_up"), 1.0, "{}", fc.stderr());
    assert_eq!(metric(&metrics, "forecourt_redis_fallbacks_total"), 0.0, "decided in Redis throughout\n{metrics}");
}
