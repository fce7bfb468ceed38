//! The two actions that answer here: a fixed response (`respond = { ... }`) and a redirect
//! (`redirect = { ... }`, and the `https_redirect` filter's).
use crate::body::ProxyBody;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use http::{request, Response, StatusCode};

/// A direct answer (`respond = { ... }`).
pub fn text(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// A redirect to `location`; `None` when `location` cannot be a header value (made from
/// a request's own bytes: the request is then a bad one).
pub fn redirect(status: StatusCode, location: &str) -> Option<Response<ProxyBody>> {
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = status;
    resp.headers_mut().insert(LOCATION, HeaderValue::from_str(location).ok()?);
    Some(resp)
}

/// Fills `{uri}`, `{path}`, `{query}` and `{host}` in a redirect target.
pub fn expand(to: &str, head: &request::Parts, host: &str) -> String {
    if !to.contains('{') {
        return to.to_string();
    }
    let uri = head.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    to.replace("{uri}", uri)
        .replace("{path}", head.uri.path())
        .replace("{query}", head.uri.query().unwrap_or(""))
        .replace("{host}", host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_filled_from_the_request() {
        let head = http::Request::get("/a/b?x=1").body(()).unwrap().into_parts().0;
        assert_eq!(expand("https://{host}{uri}", &head, "example.com"), "https://example.com/a/b?x=1");
        assert_eq!(expand("/new{path}?{query}", &head, ""), "/new/a/b?x=1");
        assert!(redirect(StatusCode::FOUND, "/ok").is_some() && redirect(StatusCode::FOUND, "/bad\n").is_none());
    }
}
