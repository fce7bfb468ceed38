//! Handing a request to the engine as ModSecurity's connectors do: the request line as
//! sent (path and query), the protocol, every header (a `Host` made from an HTTP/2
//! request's authority, as nginx makes one), the client's address; and which bodies are
//! parsed into arguments (and so refused, or passed uninspected, beyond the limit).
use forecourt_seclang::Transaction;
use http::request;
use std::net::IpAddr;

/// Feeds the head into a fresh transaction (phase 1 is the caller's to run).
pub fn head(tx: &mut Transaction, head: &request::Parts, client: IpAddr) {
    tx.set_client_addr(&client.to_string(), 0);
    let target = head.uri.path_and_query().map_or("/", |p| p.as_str());
    let _ = tx.process_uri(target, head.method.as_str(), protocol(head.version));
    if !head.headers.contains_key(http::header::HOST) {
        if let Some(authority) = head.uri.authority() {
            let _ = tx.add_request_header("Host", authority.as_str());
        }
    }
    for (name, value) in &head.headers {
        let _ = tx.add_request_header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Whether the engine turns a body of this type into arguments (forms, multipart, JSON,
/// XML): the engine's own answer. Others (`application/octet-stream`, images, archives)
/// are REQUEST_BODY only, and one longer than the limit streams on uninspected: an upload
/// is not refused for its size.
pub fn parses(head: &request::Parts) -> bool {
    head.headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(forecourt_seclang::engine::has_body_processor)
}

/// Whether the body is a `multipart/form-data` upload: its files' content counts toward
/// `upload_limit`, not `request_body_limit` (ModSecurity's `SecRequestBodyLimit` and
/// `SecRequestBodyNoFilesLimit`).
pub fn is_upload(head: &request::Parts) -> bool {
    media_type(&head.headers).is_some_and(|t| t == "multipart/form-data")
}

/// The media type of a Content-Type (`text/html` of `text/html; charset=utf-8`), lower case.
pub fn media_type(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(value: &str) -> request::Parts {
        let (parts, ()) = http::Request::post("/").header("content-type", value).body(()).unwrap().into_parts();
        parts
    }

    #[test]
    fn only_types_the_engine_parses_are_inspected() {
        for parsed in [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json",
            "application/vnd.api+json",
            "text/xml; charset=utf-8",
            "application/soap+xml",
        ] {
            assert!(parses(&with_type(parsed)), "{parsed}");
        }
        for passed in ["application/octet-stream", "image/png", "text/plain"] {
            assert!(!parses(&with_type(passed)), "{passed}");
        }
        let (none, ()) = http::Request::post("/").body(()).unwrap().into_parts();
        assert!(!parses(&none));
    }
}
