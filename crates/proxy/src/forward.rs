//! Forwarding to an upstream: the request as the backend should see it, the exchange over
//! a pooled connection, the response as the client should see it (a 101 carries the
//! upstream's side of the upgrade for the HTTP/1 server to join).
use crate::body::{ClientBody, ClientBodyError, IncomingBody, ProxyBody};
use crate::exchange::Exchange;
use crate::headers::{carries_forwarding, set_forwarded, strip_hop_by_hop};
use crate::mirror::Mirror;
use crate::route::Replay;
use crate::runtime::Runtime;
use crate::server::Worker;
use crate::service::Conn;
use crate::tries::{self, Answer, Failure, Outgoing};
use crate::{request_id, respond};
use bytes::Bytes;
use forecourt_upstream::{is_idempotent, sends_inline, Protocol, UpstreamError, UpstreamGroup};
use http::header::{HeaderValue, CONTENT_LENGTH, HOST, RETRY_AFTER, SET_COOKIE, TRANSFER_ENCODING};
use http::{request, Request, Response, StatusCode, Uri, Version};
use hyper::body::Body;

/// What the service hands the forwarder for one request.
pub struct Job<'a> {
    pub rt: &'a Runtime,
    pub conn: &'a Conn,
    pub group: &'a UpstreamGroup,
    pub request_id: &'a HeaderValue,
    pub max_body: Option<u64>,
    /// The client asked to switch protocols (HTTP/1.1 `Upgrade`).
    pub upgrade: bool,
    /// The route's shadow upstream, if it mirrors.
    pub mirror: Option<&'a Mirror>,
    /// Which requests may be sent again after one reached a server.
    pub replay: Replay,
}

pub async fn forward(
    worker: &Worker,
    job: Job<'_>,
    mut parts: request::Parts,
    body: IncomingBody,
    exchange: &mut Exchange,
) -> Response<ProxyBody> {
    let Job { rt, conn, group, request_id, upgrade, mirror, replay, .. } = job;
    // The Host header as the client sent it (a shared clone, no copy), or the HTTP/2 authority.
    let authority = match parts.headers.get(HOST) {
        Some(host) => host.clone(),
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or(HeaderValue::from_static("")),
    };

    strip_hop_by_hop(&mut parts.headers, upgrade);
    // The verified client certificate's subject, and never a client's own claim of one.
    if let Some((name, subject)) = &conn.client_cert {
        parts.headers.remove(name);
        if let Some(subject) = subject {
            parts.headers.insert(name.clone(), subject.clone());
        }
    }
    // Room for the forwarding headers and the request id at once, instead of growing (and
    // rehashing) the map once or twice on the way.
    parts.headers.reserve(7);
    parts.headers.insert(request_id::HEADER, request_id.clone());
    if !target_for(group.protocol, group.tls().is_some(), &mut parts, &authority) {
        return respond::error(StatusCode::BAD_REQUEST, request_id);
    }

    let timeout = rt.settings.client.body_timeout;
    let body = ClientBody::new(body, job.max_body, timeout);
    let who = conn.identity(&worker.identities, &rt.settings.trusted_proxies);
    // The common case, a plain request from a client that sent no forwarding headers, gets
    // them as one block rendered per connection; the others go through the header map.
    // The inline client speaks plain HTTP/1.1; TLS upstreams take hyper's client.
    let inline = group.tls().is_none() && sends_inline(group.protocol, &parts, &body);
    let forwarding = if !who.trusted() && inline && !carries_forwarding(&parts.headers) {
        who.rendered(&authority)
    } else {
        set_forwarded(&mut parts.headers, &who, &authority);
        Bytes::new()
    };
    let outgoing = if inline {
        if let Some(mirror) = mirror {
            mirror.copy(worker, &parts, &forwarding, None, conn.client.ip());
        }
        Outgoing::Head { parts, extra: &forwarding, any_method: replay.any_method }
    } else if let Some(replayable) = keeps_body(group, &parts, &body, replay, upgrade, mirror.is_some()) {
        let body = match body.read_all().await {
            Ok(body) => body,
            Err(e) => return respond::error(body_failure_status(&*e).unwrap_or(StatusCode::BAD_REQUEST), request_id),
        };
        if let Some(mirror) = mirror {
            mirror.copy(worker, &parts, &Bytes::new(), Some(&body), conn.client.ip());
        }
        Outgoing::Kept { parts, body, replayable }
    } else {
        Outgoing::WithBody(Some(Request::from_parts(parts, body)))
    };
    let (mut resp, set_cookie) = match tries::run(worker, group, conn.client.ip(), outgoing, exchange).await {
        Ok(Answer { response, set_cookie }) => (response, set_cookie),
        Err(Failure::NoServer(retry_after)) => {
            tracing::warn!(upstream = %group.name, request_id = ?request_id, "no server can take the request");
            let mut resp = respond::error(StatusCode::SERVICE_UNAVAILABLE, request_id);
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after));
            return resp;
        }
        Err(Failure::Failed(e)) => return respond::error(failure_status(&e), request_id),
    };
    if let Some(cookie) = set_cookie {
        resp.headers_mut().append(SET_COOKIE, cookie.clone());
    }

    // A response two parsers could frame differently is not passed on.
    if resp.headers().contains_key(TRANSFER_ENCODING) && resp.headers().contains_key(CONTENT_LENGTH) {
        tracing::warn!(upstream = %group.name, "upstream response has both Content-Length and Transfer-Encoding");
        return respond::error(StatusCode::BAD_GATEWAY, request_id);
    }
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    strip_hop_by_hop(resp.headers_mut(), switching);
    if switching {
        if !upgrade {
            return respond::error(StatusCode::BAD_GATEWAY, request_id);
        }
        // The HTTP/1 server joins the two sides once the 101 has reached the client.
        let upstream_side = hyper::upgrade::on(&mut resp);
        resp.extensions_mut().insert(upstream_side);
        return resp.map(|_| ProxyBody::empty());
    }
    resp.map(ProxyBody::upstream)
}

/// Rewrites the request line for the upstream's protocol; false if there is no authority
/// to address an HTTP/2 upstream with.
fn target_for(protocol: Protocol, tls: bool, parts: &mut request::Parts, authority: &HeaderValue) -> bool {
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match protocol {
        Protocol::Http1 => {
            if !parts.headers.contains_key(HOST) {
                parts.headers.insert(HOST, authority.clone());
            }
            if parts.uri.scheme().is_some() {
                match path.parse::<Uri>() {
                    Ok(uri) => parts.uri = uri,
                    Err(_) => return false,
                }
            }
            parts.version = Version::HTTP_11;
        }
        Protocol::H2c => {
            let Ok(authority) = authority.to_str() else { return false };
            let scheme = if tls { "https" } else { "http" };
            match Uri::builder().scheme(scheme).authority(authority).path_and_query(path).build() {
                Ok(uri) => parts.uri = uri,
                Err(_) => return false,
            }
            parts.headers.remove(HOST);
            parts.version = Version::HTTP_2;
        }
    }
    true
}

/// Whether the request body is read in full before the first try and kept, so that a
/// retry can send it again, or a mirror copy it: its length is known and within the
/// route's `retry_buffer`, and either a mirror wants it or retries are on and the route
/// lets this method be repeated. `Some(whether a retry may send it again)` when kept.
fn keeps_body(
    group: &UpstreamGroup,
    parts: &request::Parts,
    body: &ClientBody,
    replay: Replay,
    upgrade: bool,
    mirrored: bool,
) -> Option<bool> {
    let replayable = group.policies.retry.attempts > 1 && (replay.any_method || is_idempotent(&parts.method));
    let small = body.size_hint().exact().is_some_and(|n| n <= replay.max_body);
    (!upgrade && small && (replayable || mirrored)).then_some(replayable)
}

/// 504 for a slow upstream, 413/408/400 when the client's body was the problem, else 502.
fn failure_status(e: &UpstreamError) -> StatusCode {
    if e.is_timeout() {
        return StatusCode::GATEWAY_TIMEOUT;
    }
    if let UpstreamError::Exchange(err) = e {
        if let Some(status) = std::error::Error::source(err).and_then(body_failure_status) {
            return status;
        }
    }
    StatusCode::BAD_GATEWAY
}

/// The status for an error of the client's body found along `e`'s chain of sources.
fn body_failure_status(e: &(dyn std::error::Error + 'static)) -> Option<StatusCode> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(body_err) = s.downcast_ref::<ClientBodyError>() {
            return Some(match body_err {
                ClientBodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                ClientBodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
                ClientBodyError::Invalid => StatusCode::BAD_REQUEST,
            });
        }
        if s.downcast_ref::<hyper::Error>().is_some_and(|h| h.is_incomplete_message() || h.is_parse()) {
            // The client's own body was cut or malformed.
            return Some(StatusCode::BAD_REQUEST);
        }
        source = s.source();
    }
    None
}
