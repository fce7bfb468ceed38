//! Debian's `chromium`, headless, opened on one URL with its DevTools port on, so that a
//! test can see where the page went (`/json/list`) while the browser runs the page's
//! scripts for real (Web Workers included). Started with the flags a closed network
//! needs: no background connections, no sandbox (tests run as root).
use super::TempDir;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Chromium {
    child: Child,
    dir: TempDir,
}

impl Chromium {
    pub fn open(url: &str) -> Chromium {
        let dir = TempDir::new("chromium");
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", dir.path("profile")))
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium (apt-get install -y chromium)");
        Chromium { child, dir }
    }

    /// The URLs of the open pages, from the DevTools endpoint (once it is up).
    pub fn page_urls(&self) -> Vec<String> {
        let Ok(port_file) = std::fs::read_to_string(self.dir.path("profile/DevToolsActivePort")) else {
            return Vec::new();
        };
        let Some(port) = port_file.lines().next().and_then(|p| p.trim().parse::<u16>().ok()) else {
            return Vec::new();
        };
        let Some(json) = devtools_get(port, "/json/list") else { return Vec::new() };
        let pages: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap_or_default();
        pages.iter().filter(|p| p["type"] == "page").filter_map(|p| p["url"].as_str().map(str::to_owned)).collect()
    }

    /// Waits until `cond` holds (polling every 100 ms) or `within` passes.
    pub fn wait_for(&self, within: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        cond()
    }
}

/// One GET to the DevTools endpoint (which keeps the connection open): the body, read
/// to its Content-Length.
fn devtools_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = s.read(&mut buf).ok().filter(|n| *n > 0)?;
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
            })?;
            if body.len() >= length {
                return Some(body.to_owned());
            }
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
