//! Test harness: the real `forecourt` binary started with a config, and real origin servers
//! on real sockets. Nothing here is mocked; the origin is a small hyper server in the test
//! process that reports what it received.
#![allow(dead_code)]
pub mod cache_admin;
pub mod cache_origin;
pub mod chromium;
pub mod feed_server;
pub mod mmdb;
pub mod origin;
pub mod pebble;
pub mod pki;
pub mod redis_server;
pub mod renewal_info;
pub mod tls_client;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_forecourt");

/// A port nobody listens on right now, and one this test process has not handed out
/// before. Forecourt's listeners set `SO_REUSEPORT`, so two instances given the same port
/// by tests running side by side would both bind it and share its connections: a test
/// then talks to another test's server now and then (seen in CI: a PROXY-protocol request
/// answered 400 by a listener without the protocol). The kernel may hand a released port
/// out again at once, so the ports given are remembered.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn wait_for_port(port: u16) {
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let p = std::env::temp_dir().join(format!("forecourt-test-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn file(&self, name: &str, contents: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p.to_string_lossy().into_owned()
    }

    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `forecourt run -c CONFIG`, its output in `dir`'s `stdout.log` and `stderr.log`, and
/// what it keeps for its next start (`data_dir`'s default) in `dir`'s `data` folder: each
/// test's instance its own, kept across its restarts.
fn spawn_run(config: &str, dir: &TempDir) -> Child {
    Command::new(BIN)
        .args(["run", "-c", config])
        .env("XDG_DATA_HOME", dir.path("data"))
        .stdout(Stdio::from(std::fs::File::create(dir.path("stdout.log")).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(dir.path("stderr.log")).unwrap()))
        .spawn()
        .unwrap()
}

/// Whether process `pid` itself listens on TCP `port`. Connecting cannot tell: between
/// `free_port` letting the port go and the process binding it, another test's listener
/// bound to port 0 (an origin) may be given the same port, and a test that took that for
/// Forecourt went on (rewrote its config) before Forecourt had even read it.
fn listens(pid: u32, port: u16) -> bool {
    let mut sockets = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let local_port = columns.get(1).and_then(|a| a.rsplit(':').next());
            let listening = columns.get(3) == Some(&"0A");
            if listening && local_port.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port) {
                sockets.extend(columns.get(9).map(|inode| format!("socket:[{inode}]")));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|l| sockets.iter().any(|s| l.as_os_str() == s.as_str()))
}

/// A running `forecourt`, killed on drop.
pub struct Forecourt {
    pub child: Child,
    pub port: u16,
    pub dir: TempDir,
    pub config: String,
}

impl Forecourt {
    /// Starts `forecourt run -c` with `config`, in which `{port}` is replaced by a free port
    /// (the one waited for) and `{dir}` by a temporary directory. A port taken between
    /// `free_port` and the bind (another test's listener may be given it) is tried again
    /// with another.
    pub fn start(config: &str) -> Forecourt {
        let mut tries = 0;
        loop {
            match Forecourt::try_start_on(free_port(), config) {
                Ok(fc) => return fc,
                Err(why) if why.contains("cannot listen") && tries < 3 => tries += 1,
                Err(why) => panic!("{why}"),
            }
        }
    }

    /// `start`, with `{port}` a port chosen by the caller (one another peer must know first).
    pub fn start_on(port: u16, config: &str) -> Forecourt {
        Forecourt::try_start_on(port, config).unwrap_or_else(|why| panic!("{why}"))
    }

    fn try_start_on(port: u16, config: &str) -> Result<Forecourt, String> {
        let dir = TempDir::new("fc");
        let text = config.replace("{port}", &port.to_string()).replace("{dir}", &dir.0.to_string_lossy());
        let path = dir.file("forecourt.toml", &text);
        let mut fc = Forecourt { child: spawn_run(&path, &dir), port, dir, config: path };
        fc.wait_listening()?;
        Ok(fc)
    }

    /// Starts the same config again (after the process died or was killed), on the same port.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_run(&self.config, &self.dir);
        self.wait_listening().unwrap_or_else(|why| panic!("{why}"));
    }

    /// Until the process listens on its port; if it exits first, or never does, why (its
    /// stderr), so that a test says what went wrong rather than only that nothing listens.
    fn wait_listening(&mut self) -> Result<(), String> {
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if listens(self.child.id(), self.port) && TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let stderr = std::fs::read_to_string(self.dir.path("stderr.log")).unwrap_or_default();
                return Err(format!("forecourt exited ({status}) before listening on {}: {stderr}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let stderr = std::fs::read_to_string(self.dir.path("stderr.log")).unwrap_or_default();
        Err(format!("nothing listens on port {} after 15 s; forecourt's stderr: {stderr}", self.port))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path("stderr.log")).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path("stdout.log")).unwrap_or_default()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// Rewrites the config file (same placeholders as `start`).
    pub fn rewrite(&self, config: &str) {
        let text = config.replace("{port}", &self.port.to_string()).replace("{dir}", &self.dir.0.to_string_lossy());
        std::fs::write(&self.config, text).unwrap();
    }

    /// Waits for the process to exit; its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Forecourt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends raw bytes, reads until the peer closes (or `wait` passes); the bytes received.
pub fn raw(addr: SocketAddr, data: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(data).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {
                out.extend_from_slice(b"<still open>");
                break;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status lines of every response in `raw` output.
pub fn statuses(raw: &str) -> Vec<u16> {
    raw.match_indices("HTTP/1.1 ").filter_map(|(i, _)| raw.get(i + 9..i + 12)?.parse().ok()).collect()
}

#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

pub type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

pub fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A client whose connections come from `local` (127.0.0.2, 127.0.0.3, …: loopback
/// answers every 127/8 address), for what is decided per client address.
pub fn client_from(local: &str) -> HttpClient {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_local_address(Some(local.parse().unwrap()));
    Client::builder(TokioExecutor::new()).build(connector)
}

pub fn h2c_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).http2_only(true).build_http()
}

pub async fn send(client: &HttpClient, req: http::Request<Full<Bytes>>) -> Reply {
    let resp = client.request(req).await.expect("request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

pub async fn get(url: &str) -> Reply {
    get_with(url, &[]).await
}

pub async fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut b = http::Request::get(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(&client(), b.body(Full::default()).unwrap()).await
}

/// Reads a Prometheus counter's value from the admin endpoint text.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}

/// Polls `cond` until it holds or `within` passes; whether it held. For effects that are
/// asynchronous by nature (a signal handled, a log line written), without fixed sleeps.
pub fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `url` until its body is `expected` (a reload taking effect) or 5 s pass.
pub async fn body_becomes(url: &str, expected: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        if get(url).await.body == expected {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
