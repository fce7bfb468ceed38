//! The whole life of one request, in order: snapshot, request id, route, filters, action,
//! response filters. Each step is a call into the module that owns it.
use crate::access_log::LogFields;
use crate::body::{IncomingBody, ProxyBody};
use crate::cidr::CidrList;
use crate::exchange::Exchange;
use crate::filter::{Ctx, Flow};
use crate::headers::{ClientIdentity, IdentityCache};
use crate::route::{Action, Route};
use crate::runtime::Runtime;
use crate::server::Worker;
use crate::{forward, request_id, respond, router};
use forecourt_upstream::PickInput;
use http::header::HeaderValue;
use http::{request, Request, Response, StatusCode};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// The client connection a request arrived on.
pub struct Conn {
    pub client: SocketAddr,
    /// Came over TLS (`X-Forwarded-Proto: https`).
    pub tls: bool,
    /// The name the client asked for in its TLS handshake.
    pub sni: Option<Box<str>>,
    /// On a listener with client certificates: the header for the client's verified
    /// subject, and that subject if it presented a certificate.
    pub client_cert: Option<(http::HeaderName, Option<HeaderValue>)>,
    /// Taken from the worker's cache on the first forwarded request; again if a reload
    /// changed whether this client is a trusted proxy.
    identity: RefCell<Option<Rc<ClientIdentity>>>,
}

impl Conn {
    pub fn new(client: SocketAddr, tls: bool, sni: Option<Box<str>>) -> Conn {
        Conn { client, tls, sni, client_cert: None, identity: RefCell::new(None) }
    }

    /// A connection over `transport` from `client`.
    pub fn on(client: SocketAddr, transport: &crate::transport::Transport) -> Conn {
        match transport {
            crate::transport::Transport::Tls(t) => Conn {
                client_cert: t.client_cert.clone(),
                ..Conn::new(client, true, t.server_name().map(String::into_boxed_str))
            },
            crate::transport::Transport::Plain(_) => Conn::new(client, false, None),
        }
    }

    /// The forwarding identity of this client under the given trusted-proxy list.
    pub fn identity(&self, cache: &IdentityCache, trusted: &CidrList) -> Rc<ClientIdentity> {
        let is_trusted = trusted.contains(self.client.ip());
        let mut slot = self.identity.borrow_mut();
        match slot.as_ref() {
            Some(who) if who.trusted() == is_trusted => who.clone(),
            _ => {
                let who = cache.get(self.client.ip(), is_trusted, self.tls);
                *slot = Some(who.clone());
                who
            }
        }
    }
}

/// Serves one request. Never fails: every problem becomes a response.
pub async fn handle(worker: &Worker, conn: &Conn, req: Request<IncomingBody>) -> Response<ProxyBody> {
    let started = Instant::now();
    let rt = worker.snapshot();
    let mut exchange = Exchange::start(started);
    let request_id = request_id::take_or_make(req.headers(), worker.id);
    if let Some(log) = &rt.settings.access_log {
        exchange.set_log(log.clone(), Box::new(log_fields(&req, conn, &request_id)));
    }
    let mut resp = match route(&rt, conn, req, &request_id, &mut exchange) {
        Routed::Answered(resp) => resp,
        Routed::Forward(route, parts, body, upgrade, max_body) => {
            let (group, split_cookie) = match &route.action {
                Action::Proxy(group) => (group, None),
                Action::Split(split) => {
                    split.choose(&PickInput { client: conn.client.ip(), uri: &parts.uri, headers: &parts.headers })
                }
                _ => unreachable!("only proxy routes forward"),
            };
            let mirror = route.mirror.as_ref();
            let replay = route.replay;
            let job = forward::Job { rt: &rt, conn, group, request_id: &request_id, max_body, upgrade, mirror, replay };
            let mut resp = forward::forward(worker, job, parts, body, &mut exchange).await;
            if let Some(cookie) = split_cookie {
                resp.headers_mut().append(http::header::SET_COOKIE, cookie.clone());
            }
            response_filters(&route, conn, resp)
        }
    };
    // The client can quote it when asking what happened to this request.
    resp.headers_mut().entry(request_id::HEADER).or_insert(request_id);
    exchange.status = resp.status().as_u16();
    resp.body_mut().attach(exchange);
    resp
}

/// Where a request goes: answered here, or forwarded (which is awaited by the caller, so
/// that no future sits between `handle` and the forwarder's).
enum Routed {
    Answered(Response<ProxyBody>),
    Forward(Arc<Route>, request::Parts, IncomingBody, bool, Option<u64>),
}

fn route(
    rt: &Runtime,
    conn: &Conn,
    req: Request<IncomingBody>,
    request_id: &HeaderValue,
    exchange: &mut Exchange,
) -> Routed {
    let limits = &rt.settings.client;
    if req.uri().path_and_query().map_or(0, |p| p.as_str().len()) > limits.max_uri_bytes {
        return Routed::Answered(respond::error(StatusCode::URI_TOO_LONG, request_id));
    }
    let upgrade = req.version() < http::Version::HTTP_2 && crate::headers::wants_upgrade(req.headers());
    let (mut parts, body) = req.into_parts();
    if let Some(resp) = crate::secure::acme_challenge(conn, parts.uri.path()) {
        return Routed::Answered(resp);
    }
    let host = router::request_host(&parts.uri, &parts.headers);
    if crate::secure::misdirected(rt, conn, host) {
        return Routed::Answered(respond::error(StatusCode::MISDIRECTED_REQUEST, request_id));
    }
    let Some(found) = rt.router.find(host, &parts) else {
        return Routed::Answered(respond::error(StatusCode::NOT_FOUND, request_id));
    };
    let route = found.route.clone();
    exchange.set_route_stats(route.stats.clone());
    if let Some(f) = exchange.log_fields() {
        f.route.clone_from(&route.name);
    }
    if let Some(resp) = crate::secure::https_redirect(&route, conn, &parts, host, request_id) {
        return Routed::Answered(resp);
    }
    if crate::secure::needs_client_certificate(rt, conn, host) {
        return Routed::Answered(respond::error(StatusCode::FORBIDDEN, request_id));
    }
    let max_body = route.max_body.or(limits.max_body);
    if let (Some(max), Some(len)) = (max_body, content_length(&parts.headers)) {
        if len > max {
            return Routed::Answered(respond::error(StatusCode::PAYLOAD_TOO_LARGE, request_id));
        }
    }

    // A redirect names the host the client asked for, whatever the filters do to headers.
    let redirect_host = matches!(route.action, Action::Redirect { .. })
        .then(|| router::request_host(&parts.uri, &parts.headers).to_owned());
    let ctx = Ctx { client: conn.client, request_id };
    for filter in &route.filters {
        if let Flow::Respond(resp) = filter.on_request(&mut parts, &ctx) {
            return Routed::Answered(response_filters(&route, conn, *resp));
        }
    }
    let resp = match &route.action {
        Action::Respond { status, body } => respond::text(*status, body.clone()),
        Action::Redirect { status, to } => {
            respond::redirect(*status, &expand(to, &parts, redirect_host.as_deref().unwrap_or("")), request_id)
        }
        Action::Proxy(_) | Action::Split(_) => return Routed::Forward(route, parts, body, upgrade, max_body),
    };
    Routed::Answered(response_filters(&route, conn, resp))
}

fn response_filters(route: &Route, conn: &Conn, resp: Response<ProxyBody>) -> Response<ProxyBody> {
    let (mut head, body) = resp.into_parts();
    for filter in &route.filters {
        filter.on_response(&mut head);
    }
    crate::secure::add_hsts(route, conn, &mut head);
    Response::from_parts(head, body)
}

fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Fills `{uri}`, `{path}`, `{query}` and `{host}` in a redirect target.
fn expand(to: &str, parts: &http::request::Parts, host: &str) -> String {
    if !to.contains('{') {
        return to.to_string();
    }
    let uri = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    to.replace("{uri}", uri)
        .replace("{path}", parts.uri.path())
        .replace("{query}", parts.uri.query().unwrap_or(""))
        .replace("{host}", host)
}

fn log_fields(req: &Request<IncomingBody>, conn: &Conn, request_id: &HeaderValue) -> LogFields {
    let header = |name: http::header::HeaderName| {
        req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
    };
    LogFields {
        client: Some(conn.client),
        method: req.method().to_string(),
        host: router::request_host(req.uri(), req.headers()).to_string(),
        uri: req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string(),
        version: match req.version() {
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
