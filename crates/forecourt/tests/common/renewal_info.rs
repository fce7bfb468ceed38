//! ACME renewal information (RFC 9773) beside a real Pebble, which in Debian's version 2.4
//! has none. This small HTTP server hands out Pebble's own directory with a `renewalInfo`
//! URL added, so that accounts, orders, challenges and certificates still go to Pebble, and
//! answers that URL itself: with a window a month away, or one already past for the
//! certificates a test marks, and `Retry-After: 1`. It records every certificate
//! identifier it is asked about.
use super::pebble::Pebble;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Where the suggested window lies for certificates not marked, from now.
pub const LATER: (Duration, Duration) = (Duration::from_secs(30 * 86_400), Duration::from_secs(31 * 86_400));

pub struct RenewalInfo {
    /// The directory URL to configure (plain HTTP, on 127.0.0.1).
    pub directory: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

#[derive(Default)]
struct State {
    due_now: HashSet<String>,
    asked: Vec<String>,
}

impl RenewalInfo {
    pub fn start(pebble: &Pebble) -> RenewalInfo {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fetched =
            Command::new("curl").args(["-sS", "--cacert", &pebble.ca_file, &pebble.directory]).output().expect("curl");
        let mut directory: serde_json::Value = serde_json::from_slice(&fetched.stdout).expect("Pebble's directory");
        directory["renewalInfo"] = format!("http://127.0.0.1:{port}/renewal-info").into();
        let directory = directory.to_string();
        let (state, stop) = (Arc::new(Mutex::new(State::default())), Arc::new(AtomicBool::new(false)));
        let (serving, stopping) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(stream) = stream {
                    answer(stream, &directory, &serving);
                }
            }
        });
        RenewalInfo { directory: format!("http://127.0.0.1:{port}/dir"), state, stop, port }
    }

    /// The certificate identifiers asked about so far, in order, repeats included.
    pub fn asked(&self) -> Vec<String> {
        self.state.lock().unwrap().asked.clone()
    }

    /// From now on, the window for certificate `id` lies wholly in the past.
    pub fn renew_now(&self, id: &str) {
        self.state.lock().unwrap().due_now.insert(id.to_string());
    }
}

impl Drop for RenewalInfo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One request on `stream` (the client sends one per connection), answered and closed.
fn answer(mut stream: TcpStream, directory: &str, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or_default();
    let (status, body) = if path == "/dir" {
        ("200 OK", directory.to_string())
    } else if let Some(id) = path.strip_prefix("/renewal-info/") {
        let mut state = state.lock().unwrap();
        state.asked.push(id.to_string());
        let now = SystemTime::now();
        let (start, end) = if state.due_now.contains(id) {
            (now - Duration::from_secs(7200), now - Duration::from_secs(3600))
        } else {
            (now + LATER.0, now + LATER.1)
        };
        let window = format!(r#"{{"suggestedWindow": {{"start": "{}", "end": "{}"}}}}"#, rfc3339(start), rfc3339(end));
        ("200 OK", window)
    } else {
        ("404 Not Found", String::new())
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
}

/// `at` as an RFC 3339 UTC time, by `date`.
fn rfc3339(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let out = Command::new("date").args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
