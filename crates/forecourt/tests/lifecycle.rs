//! End-to-end: reloads (signal and command), listener changes, and draining on SIGTERM and SIGQUIT.
use crate::common;

use common::origin::Origin;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `workers = 1` runs the worker on the control thread, more run threads of their own:
/// both ways are tested.
fn config_with(origin: &Origin, admin: u16, body: &str, workers: usize) -> String {
    format!(
        "[global]\nworkers = {workers}\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\npath = \"=/version\"\nrespond = {{ status = 200, body = \"{body}\" }}\n\
         [[route]]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    )
}

fn config(origin: &Origin, admin: u16, body: &str) -> String {
    config_with(origin, admin, body, 2)
}

fn reload_cmd(config: &str) -> std::process::Output {
    std::process::Command::new(BIN).args(["reload", "-c", config]).output().unwrap()
}

/// Twenty reloads while clients hammer the proxy over keep-alive connections: every single
/// request succeeds, and the new config is visible after each reload. One worker: it shares
/// its thread with the signal handling and the admin endpoint that carry out the reloads
/// (`peers.rs` runs the same with a worker per core).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_reloads_under_load_lose_nothing() {
    let origin = Origin::start("o");
    let admin = free_port();
    let config = |body: &str| config_with(&origin, admin, body, 1);
    let fc = Forecourt::start(&config("v0"));
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..8 {
        let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), fc.url("/load"));
        load.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::Relaxed) {
                let req = http::Request::get(&url).body(Default::default()).unwrap();
                match c.request(req).await {
                    Ok(r) if r.status() == 200 => {
                        let _ = http_body_util::BodyExt::collect(r.into_body()).await;
                        ok.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for i in 1..=20 {
        // Every reload meets traffic: ten more answers since the last one first.
        let target = ok.load(Ordering::Relaxed) + 10;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while ok.load(Ordering::Relaxed) < target {
            assert!(std::time::Instant::now() < deadline, "the load stalled before reload {i}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        fc.rewrite(&config(&format!("v{i}")));
        if i % 2 == 0 {
            fc.signal(libc::SIGHUP);
        } else {
            let out = reload_cmd(&fc.config);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(body_becomes(&fc.url("/version"), &format!("v{i}")).await, "reload {i} took effect");
    }
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.unwrap();
    }
    assert!(ok.load(Ordering::Relaxed) >= 200, "load ran: {}", ok.load(Ordering::Relaxed));
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed during reloads");
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_reloads_total{result=\"ok\"}"), 20.0);
}

#[tokio::test]
async fn a_broken_config_is_refused_and_the_old_one_keeps_serving() {
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = Forecourt::start(&config(&origin, admin, "good"));
    let broken = config(&origin, admin, "bad").replace("upstream = \"o\"", "upstream = \"oo\"");
    fc.rewrite(&broken);
    let out = reload_cmd(&fc.config);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("forecourt.toml:11:12: route `route#2` names unknown upstream `oo`"), "{stderr}");
    assert!(stderr.contains("did you mean `o`?"), "{stderr}");
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reload refused")), "{}", fc.stderr());
    assert!(fc.stderr().contains("names unknown upstream `oo`"));
    assert_eq!(get(&fc.url("/version")).await.body, "good");
    assert_eq!(get(&fc.url("/x")).await.status, 200);
}

/// A reload whose new listener's port is taken is refused before anything of it is
/// committed: the running config's switches stay as they were (here the challenge's
/// "under attack", which the file turns on), and the error points at the listener. Once
/// the port is free, the same file is taken.
#[tokio::test]
async fn a_reload_refused_for_a_taken_port_changes_nothing() {
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = Forecourt::start(&(config(&origin, admin, "one") + "[challenge]\ndifficulty = 8\n"));
    let browser = [("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")];
    assert_eq!(get_with(&fc.url("/x"), &browser).await.status, 200);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let attacked = format!("[challenge]\ndifficulty = 8\nunder_attack = true\n[[listen]]\naddr = \"{busy}\"\n");
    fc.rewrite(&(config(&origin, admin, "two") + &attacked));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reload refused")), "{}", fc.stderr());
    assert!(fc.stderr().contains(&format!("forecourt.toml:18:8: cannot listen on {busy}")), "{}", fc.stderr());
    assert_eq!(get(&fc.url("/version")).await.body, "one");
    let served = get_with(&fc.url("/x"), &browser).await;
    assert_eq!(served.status, 200, "the refused file's `under_attack` took effect: {}", served.body);

    drop(taken);
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reloaded")), "{}", fc.stderr());
    let challenged = get_with(&fc.url("/x"), &browser).await;
    assert!(
        challenged.status == 403 && challenged.body.contains("data-puzzle"),
        "under attack now: {}",
        challenged.body
    );
}

#[tokio::test]
async fn listeners_follow_reloads_and_idle_connections_survive() {
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = Forecourt::start(&config(&origin, admin, "one"));
    // An idle keep-alive connection opened before the reload.
    let mut idle = TcpStream::connect(fc.addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    idle.write_all(b"GET /version HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("one"));

    let extra = free_port();
    let two = config(&origin, admin, "two").replacen(
        "[[route]]",
        &format!("[[listen]]\naddr = \"127.0.0.1:{extra}\"\n[[route]]"),
        1,
    );
    fc.rewrite(&two);
    assert!(reload_cmd(&fc.config).status.success());
    wait_for_port(extra);
    assert_eq!(get(&format!("http://127.0.0.1:{extra}/version")).await.body, "two");

    idle.write_all(b"GET /version HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("two"), "the old connection serves the new config");

    fc.rewrite(&config(&origin, admin, "three"));
    assert!(reload_cmd(&fc.config).status.success());
    assert!(
        eventually(Duration::from_secs(5), || TcpStream::connect(("127.0.0.1", extra)).is_err()),
        "removed listener is closed"
    );
    assert_eq!(get(&fc.url("/version")).await.body, "three");
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    drains_on(libc::SIGTERM, 2);
}

#[test]
fn sigterm_drains_a_lone_worker_too() {
    drains_on(libc::SIGTERM, 1);
}

/// SIGQUIT is nginx's graceful shutdown; it drains here too (and is handled, so a process
/// that inherited it ignored, as a shell's background job does, still stops on it).
#[test]
fn sigquit_drains_as_nginx_does() {
    drains_on(libc::SIGQUIT, 1);
}

fn drains_on(signal: i32, workers: usize) {
    let origin = Origin::start("o");
    let admin = free_port();
    let mut fc = Forecourt::start(&config_with(&origin, admin, "v", workers));
    let addr = fc.addr();
    let in_flight: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                raw(addr, b"GET /slow?ms=800 HTTP/1.1\r\nHost: a\r\n\r\n", Duration::from_secs(5))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    fc.signal(signal);
    // The requests in flight take 800 ms; new connections are refused well before.
    assert!(
        eventually(Duration::from_millis(500), || TcpStream::connect(addr).is_err()),
        "no new connections once draining"
    );
    for t in in_flight {
        let out = t.join().unwrap();
        assert_eq!(statuses(&out), [200], "{out}");
        assert!(out.contains("slow done") && !out.ends_with("<still open>"), "{out}");
    }
    assert_eq!(fc.wait_exit(Duration::from_secs(5)), Some(0));
}

/// With `pid_file` set, `forecourt reload` signals the process (SIGHUP) through it.
#[tokio::test]
async fn reload_through_the_pid_file() {
    let origin = Origin::start("o");
    let with_pid = |body: &str| {
        config(&origin, 0, body)
            .replace("admin = \"127.0.0.1:0\"", "admin = \"off\"\npid_file = \"{dir}/forecourt.pid\"")
    };
    let fc = Forecourt::start(&with_pid("before"));
    fc.rewrite(&with_pid("after"));
    let out = reload_cmd(&fc.config);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent SIGHUP"));
    assert!(body_becomes(&fc.url("/version"), "after").await);
}

/// `forecourt reload -c FILE` with a FILE that is missing, empty or does not parse prints
/// that file's own error and fails, and addresses no instance: not the default admin
/// address, which another Forecourt may own.
#[test]
fn reload_with_a_broken_file_reloads_nothing() {
    // Stands for a Forecourt on the default admin address (if the port is free here).
    let default_admin = std::net::TcpListener::bind("127.0.0.1:9901").ok();
    if let Some(l) = &default_admin {
        l.set_nonblocking(true).unwrap();
    }
    let dir = TempDir::new("reload-broken");
    let cases = [
        (dir.path("missing.toml"), "cannot read the file"),
        (dir.file("empty.toml", ""), "nothing to listen on"),
        (dir.file("broken.toml", "[[listen]\naddr = 1\n"), "broken.toml:1:"),
    ];
    for (file, expected) in cases {
        let out = reload_cmd(&file);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains("nothing was reloaded"), "{file}: {stderr}");
    }
    if let Some(l) = default_admin {
        assert!(l.accept().is_err(), "no reload went to the default admin address");
    }
}

/// Started with a soft open-file limit of 256 under a hard one of 8192 (systemd's default
/// soft limit is 1024), Forecourt raises its own to the hard limit, says so, and holds
/// more connections than the soft limit would have allowed.
#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let dir = TempDir::new("nofile");
    let port = free_port();
    let config = format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{port}\"\n[[route]]\nrespond = {{ status = 200, body = \"ok\" }}\n"
    );
    let config = dir.file("forecourt.toml", &config);
    let log = |name: &str| std::fs::File::create(dir.path(name)).unwrap();
    let child = std::process::Command::new("prlimit")
        .args(["--nofile=256:8192", "--", BIN, "run", "-c", &config])
        .stdout(log("stdout.log"))
        .stderr(log("stderr.log"))
        .spawn()
        .unwrap();
    // Killed when dropped, however the test ends.
    let fc = Forecourt { child, port, dir, config };
    wait_for_port(port);
    // prlimit replaces itself with the command: the child's pid is Forecourt's.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", fc.child.id())).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    assert_eq!(open_files.split_whitespace().collect::<Vec<_>>()[3..5], ["8192", "8192"], "{open_files}");
    let mut held = Vec::new();
    for _ in 0..400 {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = [0u8; 12];
        conn.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        held.push(conn);
    }
    assert!(fc.stderr().contains("open-file limit raised to the hard limit"), "{}", fc.stderr());
}
