//! A list feed's server for tests: serves one text with an `ETag`, answers 304 to a
//! matching `If-None-Match`, or 500 while told to fail; counts what it answered.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct FeedState {
    pub body: String,
    pub etag: String,
    pub failing: bool,
    /// Status codes answered, in order.
    pub answered: Vec<u16>,
}

pub struct FeedServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FeedState>>,
}

impl FeedServer {
    pub fn start(body: &str, etag: &str) -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(FeedState { body: body.into(), etag: etag.into(), ..FeedState::default() }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                let mut st = shared.lock().unwrap();
                let asked = head.lines().find_map(|l| l.strip_prefix("if-none-match:")).map(|v| v.trim().to_owned());
                let (status, body) = if st.failing {
                    (500, "down".to_owned())
                } else if asked.as_deref() == Some(st.etag.to_lowercase().as_str()) {
                    (304, String::new())
                } else {
                    (200, st.body.clone())
                };
                st.answered.push(status);
                let etag = st.etag.clone();
                drop(st);
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes());
            }
        });
        FeedServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, body: &str, etag: &str) {
        let mut st = self.state.lock().unwrap();
        st.body = body.into();
        st.etag = etag.into();
    }

    pub fn answered(&self) -> Vec<u16> {
        self.state.lock().unwrap().answered.clone()
    }
}
