//! The request pipeline: the whole life of one request, in [`handle`]. Read that function
//! to know, for any request, which filters run in which phase (`LIFECYCLE.md` beside this
//! file names the invariants and the tests that pin them):
//!
//! 1. the request's context: its id, the client's address (resolved once), its record;
//! 2. the front chain decides (process-wide policies: URI length, ACME challenges, 421);
//! 3. routing: host, path as backends read it (`normal_path`; 400 for one above the root),
//!    method, headers (`TRACE` only where a route lists it);
//! 4. the route's chain decides;
//! 5. the route's action: a fixed answer, a redirect, or forwarding, for which the body is
//!    read once (for the filters that inspect it, to keep it for retries and a mirror,
//!    and its first bytes before an upstream is asked), the filters that inspect it
//!    decide, the upstream phase edits what goes, and `forward` sends it;
//! 6. the response phases, innermost first: the route's chain, then the front chain, each
//!    only through the filters the request passed;
//! 7. `X-Request-Id` on the answer; the record (access log, metrics) closes when the body
//!    has gone;
//! 8. a request a filter asked to have made later (a cache's background refresh) starts
//!    in a task of its own (`background.rs`).
mod background;
mod client_address;
mod request_body;

pub use client_address::resolve as resolve_client;

use crate::access_log::LogFields;
use crate::action::{self, Action};
use crate::answers::{Reason, Style};
use crate::body::{ClientBody, IncomingBody, ProxyBody, RequestBody};
use crate::conn::Conn;
use crate::filter::{Borrowed, OutgoingBody, RequestCtx};
use crate::forward::{self, wants_upgrade};
use crate::normal_path;
use crate::request_id;
use crate::route::Route;
use crate::router::request_host;
use crate::runtime::Runtime;
use crate::worker::Worker;
use forecourt_upstream::InterimSink;
use http::header::{HeaderValue, ALLOW};
use http::{request, Request, Response};
use request_body::Wanted;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// Serves one request. Never fails: every problem becomes an answer. `interim` takes the
/// origin's interim responses (`103 Early Hints`) to a client that can have them.
pub async fn handle(
    worker: &Rc<Worker>,
    conn: &Conn,
    req: Request<IncomingBody>,
    interim: Option<&dyn InterimSink>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let rt = worker.snapshot();
    let (mut head, body) = req.into_parts();
    let mut cx = start(worker, conn, &rt, started, &head);
    cx.interim = interim;
    cx.has_body = !hyper::body::Body::is_end_stream(&body);
    // How many filters of each chain the request passed through (their response phases run).
    let mut front_passed = rt.front.len();
    let mut route: Option<&Arc<Route>> = None;
    let mut route_passed = 0;
    let mut resp = 'answered: {
        if rt.front.decides() {
            if let Err(answer) = rt.front.on_request(&mut head, &mut cx).await {
                front_passed = answer.passed;
                break 'answered *answer.response;
            }
        }
        let Some(path) = normal_path::normalized(head.uri.path()) else {
            break 'answered cx.answer(Reason::BadRequest);
        };
        let Some(found) = rt.router.find(request_host(&head.uri, &head.headers), &path, &head) else {
            break 'answered cx.answer(Reason::NoRoute);
        };
        route = Some(found.route);
        let r = &**found.route;
        cx.exchange.set_route_stats(r.stats.clone());
        if let Some(f) = cx.exchange.log_fields() {
            f.route.clone_from(&r.name);
        }
        if !r.allows(&head.method) {
            break 'answered method_not_allowed(&cx, r);
        }
        route_passed = r.chain.len();
        if r.chain.decides() {
            if let Err(answer) = r.chain.on_request(&mut head, &mut cx).await {
                route_passed = answer.passed;
                break 'answered *answer.response;
            }
        }
        match &r.action {
            Action::Respond { status, body } => action::text(*status, body.clone()),
            Action::Redirect { status, to } => {
                let to = action::expand(to, &head, request_host(&head.uri, &head.headers));
                action::redirect(*status, &to).unwrap_or_else(|| cx.answer(Reason::BadRequest))
            }
            Action::Forward(forwarding) => {
                let (inspect, keep) = r.chain.body_needs();
                let inspect = if inspect > 0 { inspect.max(cx.inspect_up_to) } else { 0 };
                let wanted = match cx.upgrade {
                    true => Wanted::default(),
                    false => Wanted {
                        inspect,
                        keep: keep.max(forwarding.keeps_for_retry(&head.method)),
                        // None for gRPC, whose calls carry messages both ways at once: a
                        // client waiting for the answer to its first message would wait
                        // for ever on a buffer waiting for more.
                        buffer: if cx.style() == Style::Grpc { 0 } else { forwarding.buffer },
                    },
                };
                let (body, read) = match request_body::needed(&body, wanted) {
                    false => (RequestBody::Unread(body), None),
                    true => {
                        let client = &rt.settings.client;
                        let body =
                            ClientBody::new(body, cx.body_limit, client.body_timeout).min_rate(client.min_body_rate);
                        match request_body::read(body, wanted).await {
                            Ok(read) => read,
                            Err(e) => {
                                break 'answered cx.answer(forward::body_failure(&*e).unwrap_or(Reason::BadRequest))
                            }
                        }
                    }
                };
                // A chain that inspects bodies hears of every request that goes on, the
                // empty body (none, or an upgrade's) included: a filter that defers its
                // decision to this phase (the WAF) always gets to make it.
                let read = read.or_else(|| (inspect > 0).then(request_body::Read::empty));
                if let Some(read) = read {
                    if let Err(answer) = r.chain.on_request_body(&mut head, &read.bytes, read.complete, &mut cx).await {
                        route_passed = answer.passed;
                        break 'answered *answer.response;
                    }
                }
                let outgoing = match &body {
                    RequestBody::Kept(bytes) => OutgoingBody::Kept(bytes),
                    other if other.is_empty() => OutgoingBody::Empty,
                    _ => OutgoingBody::Streaming,
                };
                r.chain.on_upstream_request(&mut head, outgoing, &mut cx);
                forward::forward(&mut cx, forwarding, head, body).await
            }
        }
    };
    if let Some(r) = route {
        r.chain.on_response(route_passed, &mut resp, &mut cx);
        if let Some(later) = cx.take_later() {
            background::spawn(worker, conn, rt.clone(), r.clone(), later);
        }
    }
    rt.front.on_response(front_passed, &mut resp, &mut cx);
    // The client can quote it when asking what happened to this request.
    resp.headers_mut().entry(request_id::HEADER).or_insert_with(|| cx.request_id.clone());
    let mut exchange = cx.into_exchange();
    exchange.status = resp.status().as_u16();
    resp.body_mut().attach(exchange);
    resp
}

/// The request's context: its id (the client's, if well-formed), who the client is, the
/// form of answer it understands, and its record.
pub(crate) fn start<'w>(
    worker: &'w Worker,
    conn: &'w Conn,
    rt: &'w Runtime,
    started: Instant,
    head: &request::Parts,
) -> RequestCtx<'w> {
    let settings = &rt.settings;
    let request_id = request_id::take_or_make(&head.headers, worker.id);
    let client = client_address::resolve(conn.peer.ip(), &head.headers, &settings.trusted_proxies);
    let borrowed =
        Borrowed { conn, pool: &worker.pool, identities: &worker.identities, metrics: worker.metrics, settings };
    let mut cx = RequestCtx::new(borrowed, started, request_id, client, Style::of(&head.headers));
    cx.upgrade = head.version < http::Version::HTTP_2 && wants_upgrade(&head.headers);
    if let Some(log) = &settings.access_log {
        let fields = log_fields(head, SocketAddr::new(client, conn.peer.port()), &cx.request_id);
        cx.exchange.set_log(log.clone(), Box::new(fields));
    }
    cx
}

/// 405, with the methods the route does take.
fn method_not_allowed(cx: &RequestCtx<'_>, route: &Route) -> Response<ProxyBody> {
    let mut resp = cx.answer(Reason::MethodNotAllowed);
    let allowed = match route.methods.is_empty() {
        true => "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS".to_string(),
        false => route.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", "),
    };
    if let Ok(v) = HeaderValue::from_str(&allowed) {
        resp.headers_mut().insert(ALLOW, v);
    }
    resp
}

/// The access log's fields of a request head (also those of a request refused before it
/// reached the pipeline, `h1::refusal`).
// Inlined into `start` even though refusals call it too: out of line, it left `start`
// building the request's context apart and copying it into place (a kilobyte and a half
// per request, access log or not).
#[inline(always)]
pub(crate) fn log_fields(head: &request::Parts, client: SocketAddr, request_id: &HeaderValue) -> LogFields {
    let header =
        |name: http::header::HeaderName| head.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    LogFields {
        client: Some(client),
        method: head.method.to_string(),
        host: request_host(&head.uri, &head.headers).to_string(),
        uri: head.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string(),
        version: match head.version {
            http::Version::HTTP_2 => "HTTP/2.0",
            http::Version::HTTP_10 => "HTTP/1.0",
            _ => "HTTP/1.1",
        },
        request_id: request_id.to_str().unwrap_or("").to_string(),
        user_agent: header(http::header::USER_AGENT),
        referer: header(http::header::REFERER),
        ..LogFields::default()
    }
}
