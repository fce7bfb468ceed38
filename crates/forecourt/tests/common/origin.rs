//! A real origin server for tests: HTTP/1.1 and h2c on one port, with endpoints that echo,
//! wait, stream, count uploads, and echo WebSocket messages.
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

type Body = BoxBody<Bytes, Infallible>;

pub struct Origin {
    pub addr: SocketAddr,
    /// Requests received (any path).
    pub hits: Arc<AtomicUsize>,
    /// TCP connections accepted.
    pub connections: Arc<AtomicUsize>,
    /// Request body bytes read by the echo endpoint (any path but the special ones).
    pub echoed_bytes: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Origin {
    /// Starts an origin named `name` (it says so in `x-origin`) on a free port.
    pub fn start(name: &'static str) -> Origin {
        Origin::slow(name, Duration::ZERO)
    }

    /// An origin that waits `delay` before answering each request.
    pub fn slow(name: &'static str, delay: Duration) -> Origin {
        Origin::at(SocketAddr::from(([127, 0, 0, 1], 0)), name, delay)
    }

    /// An origin on `addr` (port 0: a free one).
    pub fn at(addr: SocketAddr, name: &'static str, delay: Duration) -> Origin {
        let std_listener = std::net::TcpListener::bind(addr).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let echoed_bytes = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let (h, c, e) = (hits.clone(), connections.clone(), echoed_bytes.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut rx => return,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            c.fetch_add(1, Ordering::SeqCst);
                            let (hits, echoed) = (h.clone(), e.clone());
                            tokio::spawn(async move {
                                let svc = hyper::service::service_fn(move |req| {
                                    hits.fetch_add(1, Ordering::SeqCst);
                                    let echoed = echoed.clone();
                                    async move {
                                        tokio::time::sleep(delay).await;
                                        handle(name, req, &echoed).await
                                    }
                                });
                                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        Origin { addr, hits, connections, echoed_bytes, shutdown: Some(tx), thread: Some(thread) }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn full(s: impl Into<Bytes>) -> Body {
    Full::new(s.into()).map_err(|e| match e {}).boxed()
}

fn query_num(req: &Request<Incoming>, key: &str) -> u64 {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn handle(
    name: &'static str,
    mut req: Request<Incoming>,
    echoed: &AtomicUsize,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let mut resp = match path.as_str() {
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(query_num(&req, "ms"))).await;
            Response::new(full("slow done"))
        }
        "/big" => {
            // Streams n bytes in 64 KiB chunks, without holding them.
            let total = query_num(&req, "n");
            let chunk = Bytes::from(vec![b'b'; 64 * 1024]);
            let stream = futures_util::stream::unfold(0u64, move |sent| {
                let chunk = chunk.clone();
                async move {
                    if sent >= total {
                        return None;
                    }
                    let n = (total - sent).min(chunk.len() as u64);
                    Some((Ok::<_, Infallible>(Frame::data(chunk.slice(..n as usize))), sent + n))
                }
            });
            let mut r = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            r.headers_mut().insert("content-length", total.into());
            r
        }
        "/upload" => {
            let mut body = req.into_body();
            let mut n: u64 = 0;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => n += f.data_ref().map_or(0, |d| d.len() as u64),
                    Err(_) => break,
                }
            }
            return Ok(Response::new(full(format!("received {n}"))));
        }
        "/ws" => {
            let key = req.headers().get("sec-websocket-key").cloned().unwrap_or(http::HeaderValue::from_static(""));
            let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                let (mut tx, mut rx) = ws.split();
                while let Some(Ok(msg)) = rx.next().await {
                    if msg.is_text() || msg.is_binary() {
                        if tx.send(msg).await.is_err() {
                            break;
                        }
                    } else if msg.is_close() {
                        break;
                    }
                }
            });
            let mut r = Response::new(full(""));
            *r.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
            r.headers_mut().insert("upgrade", "websocket".parse().unwrap());
            r.headers_mut().insert("connection", "upgrade".parse().unwrap());
            r.headers_mut().insert("sec-websocket-accept", accept.parse().unwrap());
            return Ok(r);
        }
        _ => {
            // Echo: what arrived, one header per line, then the body length.
            let mut text =
                format!("origin={name}\nmethod={}\nuri={}\nversion={:?}\n", req.method(), req.uri(), req.version());
            for (k, v) in req.headers() {
                text.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
            }
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            echoed.fetch_add(body.len(), Ordering::SeqCst);
            text.push_str(&format!("body-bytes={}\n", body.len()));
            Response::new(full(text))
        }
    };
    resp.headers_mut().insert("x-origin", name.parse().unwrap());
    resp.headers_mut().insert("server", "secret-origin/1.0".parse().unwrap());
    resp.headers_mut().insert("x-powered-by", "secret-php".parse().unwrap());
    Ok(resp)
}

/// A raw TCP origin that answers every connection with `response` verbatim, then closes.
pub fn raw_origin(response: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    raw_origin_paced(vec![response], Duration::ZERO)
}

/// A raw TCP origin that answers every connection with `parts` verbatim, `pause` between
/// each two (a head at once and its body later, as a slow application writes them), then
/// closes.
pub fn raw_origin_paced(parts: Vec<&'static [u8]>, pause: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            h.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    std::thread::sleep(pause);
                }
                let _ = s.write_all(part);
            }
        }
    });
    (addr, hits)
}
