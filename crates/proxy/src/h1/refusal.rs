//! The answer to a request refused before the pipeline saw it (HTTP/1's head and first
//! chunk, HTTP/2's target): counted, under a request id of its own, and written to the
//! access log with the reason, as nginx logs the 400s it answers, so that an operator
//! sees every refused request where the served ones are. A head begun and never finished
//! (slowloris's) gets no answer but a line too (`abandoned`), as nginx writes one. The
//! front chain hears of each (`Filter::on_refused`: a ban rule counts it as an answer).
use super::head::request_line;
use crate::access_log::{escaped_bytes, LogFields};
use crate::answers::{self, Reason, Style};
use crate::body::ProxyBody;
use crate::exchange::Exchange;
use crate::pipeline::{log_fields, resolve_client};
use crate::request_id;
use crate::worker::Worker;
use http::{request, HeaderValue, Response, StatusCode};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The most of a refused request line the access log shows (nginx shows what fitted its
/// buffer): enough for any target a human reads, not a megabyte of junk per line.
const LOGGED_LINE: usize = 2048;

/// Answers `client` with `reason`; `why` names the rule that refused (the access log's
/// `refused`), and `fields` makes the rest of the log line, given the answer's request id
/// (only when the access log is on). The line's duration counts from the refusal to the
/// answer's end: keeping the head's arrival time would cost every served request a clock
/// read.
pub(crate) fn refusal(
    worker: &Worker,
    client: IpAddr,
    reason: Reason,
    style: Style,
    why: &'static str,
    fields: impl FnOnce(&HeaderValue) -> LogFields,
) -> Response<ProxyBody> {
    let id = request_id::take_or_make(&http::HeaderMap::new(), worker.id);
    worker.metrics.count_local(reason);
    let mut answer = answers::answer(reason, style, &id).map(ProxyBody::full);
    let noted = tell_front_chain(worker, client, Some(answer.status().as_u16()), Some(reason.name()));
    let mut exchange = Exchange::start(Instant::now(), worker.metrics);
    if let Some(log) = &worker.snapshot().settings.access_log {
        let mut fields = fields(&id);
        fields.extra.push(("refused", why.to_string()));
        fields.extra.extend(noted);
        exchange.set_log(log.clone(), Box::new(fields));
    }
    exchange.status = answer.status().as_u16();
    answer.body_mut().attach(exchange);
    answer.headers_mut().insert(request_id::HEADER, id);
    answer
}

/// A request head begun and never finished, as nginx logs one: a 408 when the header
/// timeout ran out (slowloris), a 400 when the client closed first; nothing is sent, so
/// the line says 0 bytes. `waited` is the time since the head's first wait. Counted in
/// `/metrics` either way; a connection that sent nothing writes no line.
pub(crate) fn abandoned(worker: &Worker, timed_out: bool, waited: Duration, buf: &[u8], client: SocketAddr) {
    let metrics = worker.metrics;
    let (counter, status, why) = match timed_out {
        true => (&metrics.heads_timed_out, StatusCode::REQUEST_TIMEOUT, "head too slow"),
        false => (&metrics.heads_cut_short, StatusCode::BAD_REQUEST, "head cut short"),
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let noted = tell_front_chain(worker, client.ip(), Some(status.as_u16()), None);
    if let Some(log) = &worker.snapshot().settings.access_log {
        let id = request_id::take_or_make(&http::HeaderMap::new(), worker.id);
        let mut fields = raw_line_fields(buf, client, &id);
        fields.extra.push(("refused", why.to_string()));
        fields.extra.extend(noted);
        fields.status = status.as_u16();
        fields.duration = waited;
        log.write(&fields);
    }
}

/// The front chain hears of a refusal of `client` (`Filter::on_refused`), unless that is
/// one of `trusted_proxies` (a head refused unread, or a connection cut off, does not say
/// whom the proxy sent it for); the fields its filters noted for the log line.
pub(crate) fn tell_front_chain(
    worker: &Worker,
    client: IpAddr,
    status: Option<u16>,
    cause: Option<&'static str>,
) -> Vec<(&'static str, String)> {
    let snapshot = worker.snapshot();
    match snapshot.settings.trusted_proxies.contains(client) {
        true => Vec::new(),
        false => snapshot.front.on_refused(client, status, cause),
    }
}

/// The client of a parsed head, resolved through `trusted_proxies` as a served request's is.
pub(crate) fn head_client(worker: &Worker, peer: SocketAddr, head: &request::Parts) -> IpAddr {
    resolve_client(peer.ip(), &head.headers, &worker.snapshot().settings.trusted_proxies)
}

/// The log fields of a parsed head refused all the same (HTTP/1's first chunk, HTTP/2's
/// target), for its `client` (`head_client`).
pub(crate) fn head_fields(client: IpAddr, peer: SocketAddr, head: &request::Parts, id: &HeaderValue) -> LogFields {
    log_fields(head, SocketAddr::new(client, peer.port()), id)
}

/// The log fields of a head the parser refused, from its first line as it came (escaped
/// as nginx escapes it: `\xHH` for bytes outside printable ASCII, quotes and backslashes).
/// A line that is no HTTP/1 request line (TLS on a plain port, an unknown protocol) is
/// logged whole as the method, with no target or protocol, as nginx's `$request` shows it.
pub(crate) fn raw_line_fields(buf: &[u8], client: SocketAddr, request_id: &HeaderValue) -> LogFields {
    let line = request_line(buf).map_or(&b""[..], |(_, line)| line);
    let line = &line[..line.len().min(LOGGED_LINE)];
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(b"HTTP/1.1")) => (method, target, "HTTP/1.1"),
        (Some(method), Some(target), Some(b"HTTP/1.0")) => (method, target, "HTTP/1.0"),
        _ => (line, &b""[..], ""),
    };
    LogFields {
        client: Some(client),
        method: escaped_bytes(method),
        uri: escaped_bytes(target),
        version,
        request_id: request_id.to_str().unwrap_or("").to_string(),
        ..LogFields::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_line_is_logged_escaped_and_cut() {
        let client: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let id = HeaderValue::from_static("abc");
        let f = raw_line_fields(b"GET /caf\xc3\xa9?q=\"x\\ HTTP/1.0\r\nHost: a\r\n\r\n", client, &id);
        assert_eq!((f.method.as_str(), f.uri.as_str(), f.version), ("GET", "/caf\\xC3\\xA9?q=\\x22x\\x5C", "HTTP/1.0"));
        assert_eq!((f.client, f.request_id.as_str()), (Some(client), "abc"));
        let junk = raw_line_fields(b"\x16\x03\x01 x", client, &id);
        assert_eq!((junk.method.as_str(), junk.uri.as_str(), junk.version), ("\\x16\\x03\\x01 x", "", ""));
        let unknown = raw_line_fields(b"GET / HTTP/2.5\r\n", client, &id);
        assert_eq!((unknown.method.as_str(), unknown.version), ("GET / HTTP/2.5", ""));
        let long = raw_line_fields(&[b'a'; 10_000], client, &id);
        assert_eq!(long.method.len(), LOGGED_LINE);
    }
}
