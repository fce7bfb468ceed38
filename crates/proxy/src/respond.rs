//! Responses Forecourt makes itself: errors, direct answers and redirects. Error pages say
//! what went wrong and carry the request id; they never name a backend.
use crate::body::ProxyBody;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use http::{Response, StatusCode};

/// `502 Bad Gateway` and friends, as a short text page with the request id.
pub fn error(status: StatusCode, request_id: &HeaderValue) -> Response<ProxyBody> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let id = request_id.to_str().unwrap_or("");
    let body = format!("{} {reason}\nrequest id: {id}\n", status.as_u16());
    text(status, Bytes::from(body))
}

/// A direct answer (`respond = { ... }`).
pub fn text(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// A redirect to `location`.
pub fn redirect(status: StatusCode, location: &str, request_id: &HeaderValue) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = status;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(LOCATION, v);
        }
        Err(_) => return error(StatusCode::BAD_REQUEST, request_id),
    }
    resp
}
