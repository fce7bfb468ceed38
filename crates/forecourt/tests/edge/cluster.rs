//! Shared state through a Redis Cluster (`[redis] cluster = [...]`): three Debian
//! redis-server nodes made into a cluster, two Forecourt instances that know two of them.
//! A shared limit counts across both instances for clients whose keys live on different
//! nodes; a ban reaches the other instance through the cluster's pub/sub and survives a
//! restart; a node that goes away sends both to local state, and its return brings them
//! back.
use super::common::origin::Origin;
use super::common::redis_server::RedisCluster;
use super::common::*;
use super::{ban_through, config_with, exchange_from, paced};
use std::time::{Duration, Instant};

fn cluster_config(origin: &Origin, admin: u16, cluster: &RedisCluster) -> String {
    let tables = format!(
        "[redis]\ncluster = {}\ntimeout = \"200ms\"\n[limits.shared]\nrate = \"10/s\"\nburst = 1\nstore = \"redis\"\n[bans]\n",
        cluster.seeds()
    );
    config_with(origin, admin, &tables, "", "limits = [\"shared\"]", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_shares_limits_and_bans_and_its_outage_falls_back_to_local() {
    let mut cluster = RedisCluster::start();
    let origin = Origin::start("o");
    let (admin_a, admin_b) = (free_port(), free_port());
    let a = Forecourt::start(&cluster_config(&origin, admin_a, &cluster));
    let mut b = Forecourt::start(&cluster_config(&origin, admin_b, &cluster));
    let up = |admin: u16| async move {
        metric(&get(&format!("http://127.0.0.1:{admin}/metrics")).await.body, "forecourt_redis_up")
    };
    let both_up = || async { (up(admin_a).await, up(admin_b).await) == (1.0, 1.0) };
    let started = Instant::now();
    while !both_up().await && started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(both_up().await, "{}\n{}", a.stderr(), b.stderr());

    // Six client addresses, each at 10/s through each instance (20/s, twice the limit) for
    // 3 s: shared, about 31 pass per address (the rate over 3 s and the burst); counted
    // apart, about 60 would.
    let run = Duration::from_secs(3);
    let clients: Vec<String> = (2..8).map(|i| format!("127.0.0.{i}")).collect();
    let loads = clients.iter().map(|from| {
        let (via_a, via_b) = (client_from(from), client_from(from));
        let (url_a, url_b) = (a.url("/a"), b.url("/b"));
        async move {
            let (x, y) = tokio::join!(paced(&via_a, &url_a, 10, run, 1), paced(&via_b, &url_b, 10, run, 2));
            x.into_iter().chain(y).collect::<Vec<u16>>()
        }
    });
    let results = futures_util::future::join_all(loads).await;
    for (from, statuses) in clients.iter().zip(&results) {
        let passed = statuses.iter().filter(|s| **s == 200).count();
        assert!(statuses.iter().all(|s| [200, 429].contains(s)), "{from}: {statuses:?}");
        assert!((26..=36).contains(&passed), "{from}: {passed} of {} passed", statuses.len());
    }
    let spread = cluster.keys_per_node();
    assert!(spread.iter().filter(|n| **n > 0).count() >= 2, "the limits' keys live on several nodes: {spread:?}");

    // A ban through one instance reaches the other, and a restart reads it back.
    ban_through(admin_a, "127.0.0.9").await;
    let whole = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(exchange_from("127.0.0.9", b.addr(), whole).await, "", "banned on the other instance");
    let stored = cluster.cli(&["zscore", "{forecourt:bans}:until", "127.0.0.9"]);
    assert!(stored.parse::<f64>().is_ok(), "the ban is in the cluster: {stored:?}");
    b.restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(exchange_from("127.0.0.9", b.addr(), whole).await, "", "the ban survived the restart");

    // A node goes: both instances say so within a second and serve on local state; it
    // comes back: shared again.
    cluster.nodes[2].stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ups = (up(admin_a).await, up(admin_b).await);
    assert_eq!(ups, (0.0, 0.0), "forecourt_redis_up says so\n{}\n{}", a.stderr(), b.stderr());
    let statuses = paced(&client_from("127.0.0.20"), &a.url("/x"), 40, Duration::from_secs(1), 3).await;
    assert!(statuses.iter().all(|s| [200, 429].contains(s)), "{statuses:?}");
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((8..=14).contains(&passed), "the local limit, 10/s: {passed} of {}", statuses.len());
    assert!(a.stderr().contains("Redis is unreachable"), "{}", a.stderr());
    cluster.nodes[2].resume();
    cluster.wait_until_ok();
    let back = Instant::now();
    while !both_up().await && back.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(both_up().await, "up again after {:?}\n{}", back.elapsed(), a.stderr());
    println!("shared again {:?} after the cluster said ok", back.elapsed());
    assert_eq!(exchange_from("127.0.0.9", a.addr(), whole).await, "", "still banned");
}
