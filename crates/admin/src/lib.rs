//! The admin listener: `GET /metrics` (Prometheus text), `GET /health` (liveness),
//! `POST /reload` (the same reload as SIGHUP, answering with its result), and the upstream
//! API (`GET /api/upstreams`, `POST /api/upstreams/NAME/servers/SERVER/drain|enable`), and
//! the automatic certificates API (`GET /api/certificates`, `POST
//! /api/certificates/NAME/renew`), the routes with their filter chains
//! (`GET /api/routes`), the cache (`GET /api/cache`, `POST /api/cache/purge`), the bans
//! (`GET`, `POST`, `DELETE /api/bans`) and the challenge's switch (`GET`, `PUT
//! /api/challenge`).
//!
//! It runs on the control thread, which a lone worker (`workers = 1`) shares: answers are
//! cheap, and a reload is compiled on a blocking thread so that it never stalls requests.
use bytes::Bytes;
use forecourt_cache::Store;
use forecourt_proxy::{ProcessState, Runtime};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

mod bans;
mod cache;
mod certificates;
mod challenge;
mod routes;
mod upstreams;
pub use certificates::RenewFn;

/// Reloads the configuration: `Ok(summary)` or `Err(diagnostics)`.
pub type ReloadFn = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// The running config snapshot.
pub type SnapshotFn = Arc<dyn Fn() -> Arc<Runtime> + Send + Sync>;

/// What the admin endpoints act on.
#[derive(Clone)]
pub struct Control {
    pub reload: ReloadFn,
    pub snapshot: SnapshotFn,
    pub renew_certificate: RenewFn,
    /// Metrics, upstream servers' state, certificates.
    pub state: ProcessState,
}

/// Serves the admin endpoints on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, control: Control) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let control = control.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let control = control.clone();
                async move { Ok::<_, Infallible>(answer(req, control).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

async fn answer(req: Request<Incoming>, control: Control) -> Response<Full<Bytes>> {
    let reload = control.reload.clone();
    if req.uri().path().starts_with("/api/cache") {
        return cache_api(req, &control).await;
    }
    if req.uri().path().starts_with("/api/bans") {
        return bans_api(req, &control).await;
    }
    if req.uri().path().starts_with("/api/challenge") {
        return challenge::api(req, &control).await;
    }
    let req = &req;
    let path = req.uri().path();
    if let Some(rest) = path.strip_prefix("/api/upstreams/") {
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into(), "text/plain");
        }
        let groups: Vec<_> = (control.snapshot)().upstreams.values().cloned().collect();
        return match upstreams::set_drained(&groups, rest) {
            Ok(done) => text(StatusCode::OK, format!("{done}\n"), "text/plain"),
            Err(why) => text(StatusCode::NOT_FOUND, format!("{why}\n"), "text/plain"),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/certificates/") {
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into(), "text/plain");
        }
        return match certificates::renew(&control.renew_certificate, rest) {
            Ok(done) => text(StatusCode::ACCEPTED, format!("{done}\n"), "text/plain"),
            Err(why) => text(StatusCode::NOT_FOUND, format!("{why}\n"), "text/plain"),
        };
    }
    match (req.method(), path) {
        (&Method::GET, "/api/certificates") => {
            text(StatusCode::OK, certificates::list(&control.state.tls.managed).to_string(), "application/json")
        }
        (&Method::GET, "/api/upstreams") => {
            let groups: Vec<_> = (control.snapshot)().upstreams.values().cloned().collect();
            text(StatusCode::OK, upstreams::list(&groups).to_string(), "application/json")
        }
        (&Method::GET, "/api/routes") => {
            text(StatusCode::OK, routes::describe(&(control.snapshot)()).to_string(), "application/json")
        }
        (&Method::GET, "/metrics") => {
            let mut metrics = control.state.render_metrics();
            if let Some(store) = control.state.services.get::<Store>() {
                forecourt_cache::metrics::render(&store, &mut metrics);
            }
            if let Some(limits) = control.state.services.get::<forecourt_edge::limits::Registry>() {
                forecourt_edge::limits::metrics::render(&limits, &mut metrics);
            }
            if let Some(lists) = control.state.services.get::<forecourt_edge::lists::Lists>() {
                forecourt_edge::lists::metrics::render(&lists, &mut metrics);
            }
            if let Some(redis) = control.state.services.get::<forecourt_redis::Redis>() {
                forecourt_redis::metrics::render(&redis, &mut metrics);
            }
            if let Some(bans) = control.state.services.get::<forecourt_edge::bans::Bans>() {
                forecourt_edge::bans::metrics::render(&bans, &mut metrics);
            }
            if let Some(challenges) = control.state.services.get::<forecourt_edge::challenge::Challenges>() {
                forecourt_edge::challenge::metrics::render(&challenges, &mut metrics);
            }
            if let Some(waf) = control.state.services.get::<forecourt_edge::waf::WafCounters>() {
                waf.render(&mut metrics);
            }
            if let Some(refusals) = control.state.services.get::<forecourt_edge::refusals::Refusals>() {
                refusals.render(&mut metrics);
            }
            text(StatusCode::OK, metrics, "text/plain; version=0.0.4; charset=utf-8")
        }
        (&Method::GET, "/health") => text(StatusCode::OK, "ok\n".into(), "text/plain"),
        (&Method::POST, "/reload") => match tokio::task::spawn_blocking(move || reload()).await {
            Ok(Ok(summary)) => text(StatusCode::OK, format!("reloaded: {summary}\n"), "text/plain"),
            Ok(Err(diagnostics)) => text(StatusCode::BAD_REQUEST, format!("{diagnostics}\n"), "text/plain"),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "reload failed\n".into(), "text/plain"),
        },
        (_, "/metrics" | "/health" | "/reload" | "/api/upstreams" | "/api/certificates" | "/api/routes") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into(), "text/plain")
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "admin endpoints: GET /metrics, GET /health, POST /reload, GET /api/routes, GET /api/upstreams, \
             GET /api/cache, POST /api/cache/purge, GET|POST|DELETE /api/bans, GET|PUT /api/challenge, \
             POST /api/upstreams/NAME/servers/SERVER/drain|enable, GET /api/certificates, \
             POST /api/certificates/NAME/renew\n"
                .into(),
            "text/plain",
        ),
    }
}

/// `GET /api/cache` and `POST /api/cache/purge`.
async fn cache_api(req: Request<Incoming>, control: &Control) -> Response<Full<Bytes>> {
    let Some(store) = control.state.services.get::<Store>() else {
        return text(StatusCode::NOT_FOUND, "no cache is configured\n".into(), "text/plain");
    };
    match (req.method().clone(), req.uri().path()) {
        (Method::GET, "/api/cache") => {
            // Off this runtime too: the top keys are found by a look at every stored
            // object (about 0.15 s for 300,000).
            match tokio::task::spawn_blocking(move || cache::describe(&store).to_string()).await {
                Ok(described) => text(StatusCode::OK, described, "application/json"),
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "failed\n".into(), "text/plain"),
            }
        }
        (Method::POST, "/api/cache/purge") => {
            let body = match http_body_util::Limited::new(req.into_body(), 64 << 10).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return text(StatusCode::BAD_REQUEST, "unreadable body\n".into(), "text/plain"),
            };
            // Off this runtime (signals and reloads are followed here): a purge scans the
            // memory tier, and is answered once the disk tier has deleted or rewritten
            // the files too, which a slow disk may take a while to do.
            let purged = tokio::task::spawn_blocking(move || {
                let done = cache::purge(&store, &body)?;
                if let Some(disk) = store.disk() {
                    disk.settle(std::time::Duration::from_secs(10));
                }
                Ok::<_, String>(done)
            })
            .await;
            match purged {
                Ok(Ok(done)) => text(StatusCode::OK, format!("{done}\n"), "application/json"),
                Ok(Err(why)) => text(StatusCode::BAD_REQUEST, format!("{why}\n"), "text/plain"),
                Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "the purge failed\n".into(), "text/plain"),
            }
        }
        (_, "/api/cache" | "/api/cache/purge") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into(), "text/plain")
        }
        _ => text(StatusCode::NOT_FOUND, "GET /api/cache, POST /api/cache/purge\n".into(), "text/plain"),
    }
}

/// `GET`, `POST` and `DELETE /api/bans`.
async fn bans_api(req: Request<Incoming>, control: &Control) -> Response<Full<Bytes>> {
    let Some(bans) = control.state.services.get::<forecourt_edge::bans::Bans>().filter(|b| b.enabled()) else {
        return text(StatusCode::NOT_FOUND, "no [bans] is configured\n".into(), "text/plain");
    };
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let in_path = match path.strip_prefix("/api/bans") {
        Some("") => "",
        Some(rest) if rest.starts_with('/') => &rest[1..],
        _ => return text(StatusCode::NOT_FOUND, "GET|POST|DELETE /api/bans\n".into(), "text/plain"),
    };
    let in_path = in_path.to_owned();
    if method == Method::GET && in_path.is_empty() {
        return text(StatusCode::OK, bans::list(&bans).to_string(), "application/json");
    }
    let body = match http_body_util::Limited::new(req.into_body(), 64 << 10).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return text(StatusCode::BAD_REQUEST, "unreadable body\n".into(), "text/plain"),
    };
    let done = match method {
        Method::POST if in_path.is_empty() => bans::add(&bans, &body),
        Method::DELETE => match bans::lift(&bans, &in_path, &body) {
            Err(why) if why.ends_with("is not banned") => {
                return text(StatusCode::NOT_FOUND, format!("{why}\n"), "text/plain")
            }
            other => other,
        },
        _ => return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into(), "text/plain"),
    };
    match done {
        Ok(done) => text(StatusCode::OK, format!("{done}\n"), "text/plain"),
        Err(why) => text(StatusCode::BAD_REQUEST, format!("{why}\n"), "text/plain"),
    }
}

pub(crate) fn text(status: StatusCode, body: String, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    resp
}
