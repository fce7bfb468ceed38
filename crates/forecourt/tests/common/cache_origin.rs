//! An origin whose answers a test scripts through the query string: `cc` (Cache-Control),
//! `cdn` (CDN-Cache-Control), `own` (Forecourt-Cache-Control), `surr` (Surrogate-Control),
//! `cl` (Content-Language), `etag` (answered 304 when the request's If-None-Match is it),
//! `vary`, `tag` (Cache-Tag), `sc` (Set-Cookie), `loc` (Location), `age`, `exp`
//! (Expires), `x` (X-Extra), `status`, `ms` (a delay), `ranges` (a single range answered
//! 206, as most servers answer one). The body says which fetch of that URI it is, and the
//! request's Accept-Language; `capability-seen` the request's Surrogate-Capability. It
//! counts requests per URI, and can be turned to answering 503.
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Script {
    /// Requests per path and query (304s included).
    pub hits: Arc<Mutex<HashMap<String, usize>>>,
    /// Answer 503 to everything.
    pub failing: Arc<AtomicBool>,
}

pub struct CacheOrigin {
    pub addr: SocketAddr,
    pub script: Script,
    /// Its own runtime on a thread of its own: it is dropped from async tests.
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for CacheOrigin {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl CacheOrigin {
    pub fn start() -> CacheOrigin {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Script::default();
        let s = script.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else { continue };
                        let s = s.clone();
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(move |req| answer(s.clone(), req));
                            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                                .serve_connection(TokioIo::new(stream), svc)
                                .await;
                        });
                    }
                };
                tokio::select! { _ = rx => {}, _ = serve => {} }
            });
        });
        CacheOrigin { addr, script, shutdown: Some(tx) }
    }

    /// Requests the origin saw for `path_and_query`.
    pub fn hits(&self, path_and_query: &str) -> usize {
        self.script.hits.lock().unwrap().get(path_and_query).copied().unwrap_or(0)
    }

    pub fn fail(&self, failing: bool) {
        self.script.failing.store(failing, Ordering::SeqCst);
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
                continue;
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn full(text: impl Into<Bytes>) -> BoxBody<Bytes, Infallible> {
    Full::new(text.into()).boxed()
}

/// `size` bytes of an HTML page, the same each time.
pub fn page(size: usize) -> String {
    let mut html = String::from("<!doctype html><html><head><title>A page</title></head><body>\n");
    let mut i = 0;
    while html.len() < size {
        html.push_str(&format!(
            "<p class=\"row\">Row {i}: the quick brown fox jumps over the lazy dog, {}.</p>\n",
            i * 7919 % 1000
        ));
        i += 1;
    }
    html.truncate(size);
    html
}

async fn answer(s: Script, req: Request<Incoming>) -> Result<Response<BoxBody<Bytes, Infallible>>, Infallible> {
    let uri = req.uri().path_and_query().map_or("/".to_string(), |p| p.as_str().to_string());
    let n = {
        let mut hits = s.hits.lock().unwrap();
        let n = hits.entry(uri.clone()).or_default();
        *n += 1;
        *n
    };
    let q: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), decode(v)))
        .collect();
    if let Some(ms) = q.get("ms").and_then(|m| m.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut resp = Response::new(full(""));
    if s.failing.load(Ordering::SeqCst) {
        *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        *resp.body_mut() = full("origin failing\n");
        return Ok(resp);
    }
    let h = resp.headers_mut();
    for (key, name) in [
        ("cc", "cache-control"),
        ("cdn", "cdn-cache-control"),
        ("own", "forecourt-cache-control"),
        ("surr", "surrogate-control"),
        ("cl", "content-language"),
        ("etag", "etag"),
        ("vary", "vary"),
        ("tag", "cache-tag"),
        ("sc", "set-cookie"),
        ("loc", "location"),
        ("age", "age"),
        ("exp", "expires"),
        ("x", "x-extra"),
    ] {
        if let Some(v) = q.get(key) {
            h.insert(name, v.parse().unwrap());
        }
    }
    if let Some(capability) = req.headers().get("surrogate-capability") {
        h.insert("capability-seen", capability.clone());
    }
    let inm = req.headers().get("if-none-match").and_then(|v| v.to_str().ok());
    if q.get("etag").is_some_and(|e| Some(e.as_str()) == inm) {
        *resp.status_mut() = http::StatusCode::NOT_MODIFIED;
        return Ok(resp);
    }
    if let Some(status) = q.get("status").and_then(|s| s.parse::<u16>().ok()) {
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
    }
    if let Some(ct) = q.get("ct") {
        resp.headers_mut().insert("content-type", ct.parse().unwrap());
    }
    let lang = req.headers().get("accept-language").and_then(|v| v.to_str().ok()).unwrap_or("-");
    let mut body = format!("fetch {n} lang={lang}\n");
    if let Some(size) = q.get("size").and_then(|s| s.parse::<usize>().ok()) {
        body = page(size);
    }
    if let Some(events) = q.get("events").and_then(|s| s.parse::<usize>().ok()) {
        // Server-sent events, one every `gap_ms`, each its own chunk.
        let gap = Duration::from_millis(q.get("gap_ms").and_then(|g| g.parse().ok()).unwrap_or(300));
        let stream = futures_util::stream::unfold(0, move |i| async move {
            if i == events {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            let event = format!("data: event {i} {}\n\n", "padding ".repeat(200));
            Some((Ok::<_, Infallible>(Frame::data(Bytes::from(event))), i + 1))
        });
        *resp.body_mut() = StreamBody::new(stream).boxed();
        return Ok(resp);
    }
    if q.contains_key("ranges") {
        if let Some((first, last)) = one_range(req.headers(), body.len()) {
            let h = resp.headers_mut();
            h.insert("content-range", format!("bytes {first}-{last}/{}", body.len()).parse().unwrap());
            *resp.status_mut() = http::StatusCode::PARTIAL_CONTENT;
            body = body[first..=last].to_string();
        }
    }
    *resp.body_mut() = full(body);
    Ok(resp)
}

/// The one range (`bytes=A-B`, `bytes=A-`, `bytes=-N`) a request asks for, within `len`.
fn one_range(headers: &http::HeaderMap, len: usize) -> Option<(usize, usize)> {
    let spec = headers.get("range")?.to_str().ok()?.strip_prefix("bytes=")?;
    let (first, last) = spec.split_once('-')?;
    let (first, last) = match (first.parse::<usize>().ok(), last.parse::<usize>().ok()) {
        (None, Some(suffix)) => (len.checked_sub(suffix)?, len - 1),
        (Some(first), None) => (first, len - 1),
        (Some(first), Some(last)) => (first, last.min(len - 1)),
        (None, None) => return None,
    };
    (first <= last && last < len).then_some((first, last))
}
