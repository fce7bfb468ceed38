//! Forwarding to an upstream: the group (or the side of a split) for this request, the
//! request as the backend should see it (`request_head.rs`, `headers.rs`, and the
//! forwarding headers of `crate::client_identity`),
//! the tries over pooled connections (`tries.rs`), and the response as the client should
//! see it (a 101 carries the upstream's side of the upgrade for the HTTP/1 server to join).
mod headers;
mod request_head;
mod split;
mod target;
mod tries;

pub use headers::{strip_hop_by_hop, wants_upgrade};
pub use request_head::prepare as prepare_head;
pub use split::{Split, SplitTarget, Sticky};
pub use target::{Forward, Replay, Target, DEFAULT_REQUEST_BUFFER};

use crate::answers::Reason;
use crate::body::{ClientBody, ClientBodyError, ProxyBody, RequestBody};
use crate::filter::RequestCtx;
use bytes::Bytes;
use forecourt_upstream::{is_idempotent, sends_inline, speaks_inline, PickInput, UpstreamError, UpstreamGroup};
use http::header::{HeaderValue, CONTENT_LENGTH, EXPECT, RETRY_AFTER, SET_COOKIE, TRANSFER_ENCODING};
use http::{request, Request, Response, StatusCode};
use tries::{Answer, Failure, Outgoing};

/// Sends the request to the action's upstream and returns what the client gets: the
/// upstream's response, or the catalogue's answer for why there is none.
pub async fn forward(
    cx: &mut RequestCtx<'_>,
    action: &Forward,
    mut head: request::Parts,
    body: RequestBody,
) -> Response<ProxyBody> {
    let (group, split_cookie) = action.choose(&PickInput { client: cx.client, uri: &head.uri, headers: &head.headers });
    // The inline client speaks plain HTTP/1.1 for requests without a body or with one read
    // whole; TLS upstreams and streamed bodies take hyper's client.
    let inline = group.tls().is_none()
        && match &body {
            RequestBody::Unread(b) => sends_inline(group.protocol, &head, b),
            RequestBody::Streaming(b) => sends_inline(group.protocol, &head, b),
            RequestBody::Kept(_) => speaks_inline(group.protocol, &head),
        };
    if let RequestBody::Kept(bytes) = &body {
        // The whole body is here: the upstream gets its length (a chunked one had none),
        // and has no `100 Continue` to send.
        head.headers.insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        head.headers.remove(EXPECT);
    }
    let extra = match request_head::prepare(cx, group, &mut head, inline) {
        Ok(extra) => extra,
        Err(reason) => return cx.answer(reason),
    };
    let any_method = action.replay.any_method;
    let outgoing = match body {
        RequestBody::Kept(body) if inline => Outgoing::Head { parts: head, extra: &extra, body, any_method },
        _ if inline => Outgoing::Head { parts: head, extra: &extra, body: Bytes::new(), any_method },
        RequestBody::Kept(body) => {
            let replayable = group.policies.retry.attempts > 1 && (any_method || is_idempotent(&head.method));
            match replayable {
                true => Outgoing::Kept { parts: head, body },
                // Sent once (unless no byte of it left): as a streamed body is, without a
                // copy of the head for each try.
                false => Outgoing::WithBody(Some(Request::from_parts(head, ClientBody::kept(body)))),
            }
        }
        RequestBody::Unread(body) => {
            let client = &cx.settings.client;
            let body = ClientBody::new(body, cx.body_limit, client.body_timeout).min_rate(client.min_body_rate);
            Outgoing::WithBody(Some(Request::from_parts(head, body)))
        }
        RequestBody::Streaming(body) => Outgoing::WithBody(Some(Request::from_parts(head, body))),
    };
    let mut resp = match tries::run(cx, group, outgoing).await {
        Ok(Answer { response, set_cookie }) => {
            let mut resp = response;
            if let Some(cookie) = set_cookie {
                resp.headers_mut().append(SET_COOKIE, cookie.clone());
            }
            resp
        }
        Err(failure) => return failed(cx, group, failure),
    };
    if let Some(cookie) = split_cookie {
        resp.headers_mut().append(SET_COOKIE, cookie.clone());
    }

    // A response two parsers could frame differently is not passed on (found by a pass
    // over the names, compared by tag: cheaper than two hashed lookups on every response).
    let framed_by = |name| resp.headers().keys().any(|n| n == name);
    if framed_by(TRANSFER_ENCODING) && framed_by(CONTENT_LENGTH) {
        tracing::warn!(upstream = %group.name, "upstream response has both Content-Length and Transfer-Encoding");
        return cx.answer(Reason::UpstreamFailed);
    }
    // A 204 has no content, so no length either (RFC 9110 §8.6): a `Content-Length` an
    // origin sends with one would have an HTTP/1 client wait for bytes that never come (or
    // take the next response's), and an HTTP/2 client refuse the stream. Dropped, as
    // nginx drops it.
    if resp.status() == StatusCode::NO_CONTENT {
        resp.headers_mut().remove(CONTENT_LENGTH);
    }
    let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    strip_hop_by_hop(resp.headers_mut(), switching);
    if switching {
        if !cx.upgrade {
            return cx.answer(Reason::UpstreamFailed);
        }
        // The HTTP/1 server joins the two sides once the 101 has reached the client.
        let upstream_side = hyper::upgrade::on(&mut resp);
        resp.extensions_mut().insert(upstream_side);
        return resp.map(|_| ProxyBody::empty());
    }
    resp.map(ProxyBody::upstream)
}

/// The client's answer when the upstream stage ended without a response.
fn failed(cx: &RequestCtx<'_>, group: &UpstreamGroup, failure: Failure) -> Response<ProxyBody> {
    match failure {
        Failure::NoServer(retry_after) => {
            tracing::warn!(upstream = %group.name, request_id = ?cx.request_id, "no server can take the request");
            let mut resp = cx.answer(Reason::NoServer);
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after));
            resp
        }
        Failure::Busy => {
            let mut resp = cx.answer(Reason::UpstreamBusy);
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(1));
            resp
        }
        Failure::Failed(e) => cx.answer(failure_reason(&e)),
    }
}

/// Timeouts, refused connections, the client's own body, and broken exchanges.
fn failure_reason(e: &UpstreamError) -> Reason {
    if e.is_timeout() {
        return Reason::UpstreamTimeout;
    }
    match e {
        UpstreamError::Connect(_) => Reason::UpstreamUnreachable,
        UpstreamError::Exchange(err) => {
            std::error::Error::source(err).and_then(body_failure).unwrap_or(Reason::UpstreamFailed)
        }
        _ => Reason::UpstreamFailed,
    }
}

/// The reason for an error of the client's body found along `e`'s chain of sources.
pub fn body_failure(e: &(dyn std::error::Error + 'static)) -> Option<Reason> {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(body_err) = s.downcast_ref::<ClientBodyError>() {
            return Some(match body_err {
                ClientBodyError::TooLarge => Reason::BodyTooLarge,
                ClientBodyError::Timeout => Reason::BodyTimeout,
                ClientBodyError::Invalid => Reason::BadRequest,
            });
        }
        if s.downcast_ref::<hyper::Error>().is_some_and(|h| h.is_incomplete_message() || h.is_parse()) {
            // The client's own body was cut or malformed.
            return Some(Reason::BadRequest);
        }
        source = s.source();
    }
    None
}
