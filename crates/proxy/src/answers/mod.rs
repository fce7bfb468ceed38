//! The one catalogue of answers Forecourt makes itself: a request it will not or cannot
//! serve gets its status, a body in the client's terms (an HTML page for a browser, JSON
//! for an API client, plain text otherwise, a trailers-only response with the matching
//! `grpc-status` for gRPC), and the request id; never a backend's address or an internal
//! name. Whoever answers counts it by reason (`Metrics::count_local`, shown as
//! `forecourt_local_responses_total`).
pub mod reason;

pub use reason::Reason;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{Response, StatusCode};

/// The form of an answer the client understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Style {
    #[default]
    Text,
    Html,
    Json,
    /// A gRPC client: status and message in `grpc-status` / `grpc-message`.
    Grpc,
}

impl Style {
    /// gRPC by the request's content type; HTML for browsers and JSON for API clients by
    /// `Accept`; plain text for the rest (curl's `*/*`, or none).
    ///
    /// One pass over the headers, comparing names (no hashing): a request has few, and
    /// this is asked of every request.
    pub fn of(headers: &HeaderMap) -> Style {
        let mut style = Style::Text;
        for (name, value) in headers {
            if name == CONTENT_TYPE && value.as_bytes().starts_with(b"application/grpc") {
                return Style::Grpc;
            }
            if name == ACCEPT && style == Style::Text {
                style = Style::accepted(value.to_str().unwrap_or(""));
            }
        }
        style
    }

    fn accepted(accept: &str) -> Style {
        if accept.contains("text/html") {
            Style::Html
        } else if accept.contains("application/json") || accept.contains("+json") {
            Style::Json
        } else {
            Style::Text
        }
    }
}

/// The answer for `reason`, in `style`, naming `request_id` (its body whole).
pub fn answer(reason: Reason, style: Style, request_id: &HeaderValue) -> Response<Bytes> {
    let status = reason.status();
    let id = request_id.to_str().unwrap_or("");
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
    let (body, content_type) = match style {
        Style::Grpc => return grpc(reason, id),
        Style::Text => (format!("{title}\n{}\nrequest id: {id}\n", reason.message()), "text/plain; charset=utf-8"),
        Style::Json => (
            format!(
                "{{\"status\":{},\"error\":\"{}\",\"message\":\"{}\",\"request_id\":\"{}\"}}\n",
                status.as_u16(),
                reason.name(),
                reason.message(),
                only_id_bytes(id)
            ),
            "application/json",
        ),
        Style::Html => (
            format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
                 <body><h1>{title}</h1>\n<p>{}</p>\n<p>Request id: <code>{}</code></p></body></html>\n",
                reason.message(),
                only_id_bytes(id)
            ),
            "text/html; charset=utf-8",
        ),
    };
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A gRPC trailers-only response: HTTP 200 and the status in the headers, no body.
fn grpc(reason: Reason, id: &str) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(u16::from(reason.grpc_status())));
    let message = percent_encode(&format!("{} (request id: {id})", reason.message()));
    if let Ok(v) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", v);
    }
    resp
}

/// gRPC's percent-encoding of `grpc-message`: bytes outside printable ASCII, and `%`.
fn percent_encode(text: &str) -> String {
    crate::percent::encode(text.as_bytes(), |b| !(0x20..0x7f).contains(&b) || b == b'%')
}

/// Request ids are `[A-Za-z0-9._-]` (checked where they are taken); this keeps any other
/// byte out of an HTML or JSON answer all the same.
fn only_id_bytes(id: &str) -> String {
    id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    fn body_of(resp: Response<Bytes>) -> String {
        String::from_utf8(resp.into_body().to_vec()).unwrap()
    }

    #[test]
    fn the_style_follows_accept_and_content_type() {
        assert_eq!(Style::of(&headers(&[])), Style::Text);
        assert_eq!(Style::of(&headers(&[("accept", "*/*")])), Style::Text);
        assert_eq!(Style::of(&headers(&[("accept", "text/html,application/xhtml+xml;q=0.9")])), Style::Html);
        assert_eq!(Style::of(&headers(&[("accept", "application/json")])), Style::Json);
        assert_eq!(Style::of(&headers(&[("content-type", "application/grpc+proto")])), Style::Grpc);
    }

    #[test]
    fn each_style_carries_the_status_and_request_id() {
        let id = HeaderValue::from_static("req-1");
        let text = answer(Reason::NoServer, Style::Text, &id);
        assert_eq!(text.status(), 503);
        assert_eq!(body_of(text), "503 Service Unavailable\nNo server can take the request right now; try again shortly.\nrequest id: req-1\n");
        let json = answer(Reason::NoRoute, Style::Json, &id);
        assert_eq!(json.headers()["content-type"], "application/json");
        let json = body_of(json);
        assert!(
            json.contains("\"status\":404")
                && json.contains("\"error\":\"no_route\"")
                && json.contains("\"request_id\":\"req-1\""),
            "{json}"
        );
        let html = body_of(answer(Reason::UpstreamTimeout, Style::Html, &id));
        assert!(html.contains("<h1>504 Gateway Timeout</h1>") && html.contains("<code>req-1</code>"), "{html}");
        let grpc = answer(Reason::NoServer, Style::Grpc, &id);
        assert_eq!((grpc.status(), &grpc.headers()["grpc-status"]), (StatusCode::OK, &HeaderValue::from_static("14")));
        assert!(grpc.headers()["grpc-message"].to_str().unwrap().contains("request id: req-1"));
        assert!(grpc.body().is_empty(), "trailers-only: no body");
    }
}
