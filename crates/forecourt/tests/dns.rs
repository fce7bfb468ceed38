//! End-to-end: servers written as names. A real DNS server (dnsmasq, from Debian's
//! dnsmasq-base, which `.ci/run` installs) answers for `app.test` from a hosts file the
//! test rewrites, with a TTL of one second; the origins listen on 127.0.0.2 and 127.0.0.3
//! on one port, so the name's A records alone say which of them Forecourt uses.
use crate::common;

use common::origin::Origin;
use common::*;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// dnsmasq answering for `*.test` from a hosts file, and nothing else (no forwarding).
struct Dnsmasq {
    child: std::process::Child,
    port: u16,
    hosts: String,
    _dir: TempDir,
}

impl Dnsmasq {
    fn start(records: &str) -> Dnsmasq {
        let dir = TempDir::new("dnsmasq");
        let hosts = dir.file("hosts", records);
        let port = free_port();
        let child = Command::new("dnsmasq")
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--local=/test/",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--local-ttl=1",
                "--user=root",
                "--pid-file=",
                &format!("--port={port}"),
                &format!("--addn-hosts={hosts}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (apt-get install dnsmasq-base)");
        wait_for_port(port);
        Dnsmasq { child, port, hosts, _dir: dir }
    }

    /// Replaces the records and has dnsmasq read them again.
    fn set(&self, records: &str) {
        std::fs::write(&self.hosts, records).unwrap();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGHUP) };
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `servers` in upstream `app`, whose health checks expect the Host `host`.
fn config(dns_port: u16, servers: &str, host: &str) -> String {
    format!(
        "[global]\nadmin = \"127.0.0.1:{{admin}}\"\naccess_log = \"off\"\n[global.dns]\nservers = [\"127.0.0.1:{dns_port}\"]\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"app\"\n\
         [upstream.app]\nservers = [{servers}]\nbalance = \"round_robin\"\n\
         [upstream.app.health]\npath = \"/\"\ninterval = \"300ms\"\nbody = \"host: {host}\\n\"\n"
    )
}

/// Which origins answer 20 requests in a row.
async fn answered_by(url: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..20 {
        let r = get(url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        *seen.entry(r.header("x-origin").to_string()).or_default() += 1;
    }
    seen
}

/// Polls until 20 requests in a row are answered as `expected` says.
async fn becomes(url: &str, expected: impl Fn(&BTreeMap<String, usize>) -> bool) -> BTreeMap<String, usize> {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = answered_by(url).await;
        if expected(&seen) || std::time::Instant::now() > end {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_follows_its_records_and_vanished_addresses_drain() {
    let a = Origin::at(SocketAddr::from(([127, 0, 0, 2], 0)), "a", Duration::ZERO);
    let port = a.addr.port();
    let b = Origin::at(SocketAddr::from(([127, 0, 0, 3], port)), "b", Duration::ZERO);
    let dns = Dnsmasq::start("127.0.0.2 app.test\n");
    let admin = free_port();
    let fc = Forecourt::start(
        &config(dns.port, &format!("\"app.test:{port}\""), &format!("app.test:{port}"))
            .replace("{admin}", &admin.to_string()),
    );
    let url = fc.url("/");

    // One record: one endpoint.
    assert_eq!(answered_by(&url).await, BTreeMap::from([("a".to_string(), 20)]));

    // A second record: a second endpoint, in the rotation within a TTL or two.
    dns.set("127.0.0.2 app.test\n127.0.0.3 app.test\n");
    let seen = becomes(&url, |s| s.len() == 2).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(answered_by(&url).await, BTreeMap::from([("a".to_string(), 10), ("b".to_string(), 10)]));
    let listed = get(&format!("http://127.0.0.1:{admin}/api/upstreams")).await.body;
    for ip in ["127.0.0.2", "127.0.0.3"] {
        assert!(listed.contains(&format!("\"app.test:{port}@{ip}:{port}\"")), "{listed}");
    }
    // The health checks follow the new endpoint, and send the name as written as Host.
    let checked = || async {
        let listed: serde_json::Value =
            serde_json::from_str(&get(&format!("http://127.0.0.1:{admin}/api/upstreams")).await.body).unwrap();
        let servers = listed["upstreams"][0]["servers"].as_array().unwrap().clone();
        servers.iter().filter(|s| s["last_check"]["ok"] == true).count()
    };
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while checked().await < 2 && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(checked().await, 2, "both endpoints pass their checks");

    // Two slow requests in flight, one on each endpoint; then 127.0.0.2 leaves DNS. New
    // requests go to 127.0.0.3 only, and the slow one on 127.0.0.2 still finishes.
    let slow: Vec<_> = (0..2).map(|_| tokio::spawn(get(format!("{}slow?ms=3000", fc.url("/")).leak()))).collect();
    assert!(eventually(Duration::from_secs(2), || a.hits() + b.hits() >= 42), "both slow requests arrived");
    dns.set("127.0.0.3 app.test\n");
    let seen = becomes(&url, |s| s.len() == 1).await;
    assert_eq!(seen, BTreeMap::from([("b".to_string(), 20)]));
    for request in slow {
        let r = request.await.unwrap();
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "slow done"),
            "a request in flight to a vanished endpoint finishes"
        );
    }
    let a_before = a.hits();
    assert_eq!(answered_by(&url).await, BTreeMap::from([("b".to_string(), 20)]));
    assert_eq!(a.hits(), a_before, "nothing more reaches the vanished address");
    let listed = get(&format!("http://127.0.0.1:{admin}/api/upstreams")).await.body;
    assert!(!listed.contains("@127.0.0.2"), "{listed}");
    assert!(fc.stderr().contains("DNS answer changed"), "{}", fc.stderr());
}

#[test]
fn check_says_where_a_name_does_not_resolve() {
    let dns = Dnsmasq::start("127.0.0.2 app.test\n");
    let dir = TempDir::new("dns-check");
    let text = config(dns.port, "\"app.test:80\", \"nosuch.test:80\"", "app.test")
        .replace("{admin}", "9")
        .replace("{port}", "8080");
    let path = dir.file("nxdomain.toml", &text);
    let out = Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("nxdomain.toml:11:11: server `nosuch.test:80` in upstream `app`: the name has no address"),
        "{stderr}"
    );
}
