//! What TLS asks of the HTTP stage: answers to ACME HTTP-01 challenges, plain requests
//! sent on to HTTPS (`https_redirect`),
//! `Strict-Transport-Security` on answers over TLS (`hsts`), and 421 for a request whose
//! Host the connection's certificate does not cover (no domain fronting across sites).
use crate::body::ProxyBody;
use crate::respond;
use crate::route::Route;
use crate::runtime::Runtime;
use crate::service::Conn;
use http::header::{HeaderValue, STRICT_TRANSPORT_SECURITY};
use http::{request, Response, StatusCode};

/// ACME HTTP-01 challenges are answered over plain HTTP, never redirected.
const ACME_CHALLENGES: &str = forecourt_tls::auto::HTTP_CHALLENGE_PATH;

/// The answer to a CA fetching a pending HTTP-01 challenge (on a plain listener, for any
/// host: the CA asks for the name being validated, whatever the routes say).
pub fn acme_challenge(conn: &Conn, path: &str) -> Option<Response<ProxyBody>> {
    if conn.tls {
        return None;
    }
    let answer = forecourt_tls::auto::managed().http_challenge(path)?;
    let mut resp = respond::text(StatusCode::OK, answer.into());
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    Some(resp)
}

/// Whether a request on a TLS connection names a host that the certificate chosen for its
/// SNI does not cover (HTTP/2 lets a client reuse a connection for another host only
/// when the certificate covers it; RFC 9110 §15.5.20).
pub fn misdirected(rt: &Runtime, conn: &Conn, host: &str) -> bool {
    let Some(tls) = rt.tls.as_ref().filter(|_| conn.tls) else { return false };
    // A host with client certificates of its own is served only on connections whose
    // handshake asked for it: never over another host's handshake, which asked for none.
    if !tls.host_client_certs.is_empty() && !host.is_empty() {
        let asked = conn.sni.as_deref().and_then(|sni| tls.client_certs_for(sni));
        if tls.client_certs_for(host) != asked {
            return true;
        }
    }
    let Some(sni) = conn.sni.as_deref() else { return false };
    if host.is_empty() || host.eq_ignore_ascii_case(sni) {
        return false;
    }
    match (tls.certs.find(Some(sni)), tls.certs.find(Some(host))) {
        (Some(a), Some(b)) => !std::sync::Arc::ptr_eq(&a, &b),
        _ => true,
    }
}

/// Whether a plain HTTP request names a host that requires client certificates (which
/// only TLS can carry); such a request is refused unless its route redirects to HTTPS.
pub fn needs_client_certificate(rt: &Runtime, conn: &Conn, host: &str) -> bool {
    !conn.tls && rt.tls.as_ref().is_some_and(|tls| tls.client_certs_for(host).is_some())
}

/// A 308 to the same URL over HTTPS, for a plain request on a route with `https_redirect`.
pub fn https_redirect(
    route: &Route,
    conn: &Conn,
    parts: &request::Parts,
    host: &str,
    request_id: &HeaderValue,
) -> Option<Response<ProxyBody>> {
    let port = route.https_redirect?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if conn.tls || path.starts_with(ACME_CHALLENGES) || host.is_empty() {
        return None;
    }
    let to = match port {
        443 => format!("https://{host}{path}"),
        port => format!("https://{host}:{port}{path}"),
    };
    Some(respond::redirect(StatusCode::PERMANENT_REDIRECT, &to, request_id))
}

/// Adds the route's `Strict-Transport-Security` to an answer over TLS (never over plain
/// HTTP, where a browser must ignore it: RFC 6797 §7.2).
pub fn add_hsts(route: &Route, conn: &Conn, head: &mut http::response::Parts) {
    if let (true, Some(hsts)) = (conn.tls, &route.hsts) {
        head.headers.insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
}
