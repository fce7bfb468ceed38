//! Bans outlive a restart without Redis: kept in `data_dir`'s `bans` file as they change,
//! and read back before the first connection is accepted — a rule's ban and the admin
//! API's, with what remains of them; a lifted one stays lifted; one made just before a
//! graceful stop is written on the way out.
use super::common::origin::Origin;
use super::common::*;
use super::{ban_through, config_with, exchange_from};
use http_body_util::Full;
use std::time::Duration;

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
