//! One health probe: a TCP connect, or an HTTP/1.1 request (over TLS to `https://`
//! servers, verified as requests are) whose status (and optionally body) must be as
//! expected.
use crate::tls::EndpointTls;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of a check's response that is read.
const MAX_RESPONSE: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// The server accepts a connection.
    Tcp,
    Http(HttpProbe),
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpProbe {
    pub method: String,
    pub path: String,
    /// The Host header; the server's address as written by default.
    pub host: Option<String>,
    pub expect_status: RangeInclusive<u16>,
    /// A string the response body must contain.
    pub expect_body: Option<String>,
}

impl Probe {
    /// `Ok(what was seen)` or `Err(why it failed)`, within `timeout`; over TLS when the
    /// server is an `https://` one.
    pub async fn run(
        &self,
        addr: SocketAddr,
        label: &str,
        tls: Option<&EndpointTls>,
        timeout: Duration,
    ) -> Result<String, String> {
        match tokio::time::timeout(timeout, self.attempt(addr, label, tls)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    async fn attempt(&self, addr: SocketAddr, label: &str, tls: Option<&EndpointTls>) -> Result<String, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let Probe::Http(http) = self else { return Ok("connected".into()) };
        // The server as written, less its scheme (`https://backend:8443` → `backend:8443`).
        let host = http.host.as_deref().unwrap_or_else(|| label.split_once("://").map_or(label, |(_, rest)| rest));
        match tls {
            None => http.exchange(stream, host).await,
            Some(tls) => {
                let name = tls.name.clone().ok_or("TLS: the server has no name to verify")?;
                let stream = tls.upstream.connector.connect(name, stream).await.map_err(|e| format!("TLS: {e}"))?;
                http.exchange(stream, host).await
            }
        }
    }
}

impl HttpProbe {
    /// One request, `Connection: close`; the status (and body) judged.
    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S, host: &str) -> Result<String, String> {
        let request = format!(
            "{} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: forecourt-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            self.method, self.path
        );
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
        let mut buf = Vec::with_capacity(4096);
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
            buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp.parse(&buf).map_err(|e| format!("malformed response: {e}"))?;
            if let httparse::Status::Complete(head_len) = parsed {
                let status = resp.code.unwrap_or(0);
                if !self.expect_status.contains(&status) {
                    return Err(format!("status {status}"));
                }
                let Some(needle) = &self.expect_body else { return Ok(format!("status {status}")) };
                return read_body_for(&mut stream, &mut buf, head_len, needle)
                    .await
                    .map(|()| format!("status {status}"));
            }
            if n == 0 || buf.len() >= MAX_RESPONSE {
                return Err("no complete response head".into());
            }
        }
    }
}

/// Reads on (to the end or the limit) until the body holds `needle`.
async fn read_body_for<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    head_len: usize,
    needle: &str,
) -> Result<(), String> {
    loop {
        if buf[head_len..].windows(needle.len().max(1)).any(|w| w == needle.as_bytes()) {
            return Ok(());
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 || buf.len() >= MAX_RESPONSE {
            return Err(format!("body does not contain {needle:?}"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn serve_once(response: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 1024];
            let _ = s.read(&mut req).await;
            let _ = s.write_all(response.as_bytes()).await;
        });
        addr
    }

    fn http(expect_body: Option<&str>) -> Probe {
        Probe::Http(HttpProbe {
            method: "GET".into(),
            path: "/health".into(),
            host: None,
            expect_status: 200..=399,
            expect_body: expect_body.map(Into::into),
        })
    }

    #[tokio::test]
    async fn http_checks_status_and_body() {
        let t = Duration::from_secs(2);
        let ok = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall ok\n").await;
        assert!(http(Some("all ok")).run(ok, "x", None, t).await.is_ok());
        let bad = serve_once("HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(http(None).run(bad, "x", None, t).await, Err("status 503".into()));
        let wrong = serve_once("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nnope\n").await;
        assert!(http(Some("all ok")).run(wrong, "x", None, t).await.is_err());
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(Probe::Tcp.run(closed, "x", None, t).await.unwrap_err().starts_with("connect"));
    }
}
