//! Interim responses on their way to an HTTP/1.1 client (`103 Early Hints`, `102
//! Processing`, from the origin; RFC 9110 §15.2 has a proxy pass them on): each is written
//! at once, while the final response is awaited, as far as the socket takes it; what it
//! does not take goes out just before the final head (`outbound::write_response`). An
//! HTTP/1.0 client gets none (§15.2 forbids it).
use super::inbound::Shared;
use forecourt_upstream::InterimSink;
use http::header::{HeaderName, CONNECTION, CONTENT_LENGTH, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::response;

/// The most interim bytes kept for a client that does not take them at once; further
/// interim responses are dropped (they are hints: the final response does not need them).
const MAX_PENDING: usize = 16 * 1024;

/// The sink for one HTTP/1.1 request's interim responses; it lives while the request is
/// handled, so nothing reaches the connection once the final response is under way.
pub(super) struct InterimWriter<'a>(pub &'a Shared);

impl InterimSink for InterimWriter<'_> {
    fn interim(&self, head: &response::Parts) {
        let mut pending = self.0.interim.borrow_mut();
        let start = pending.len();
        encode(&mut pending, head);
        if pending.len() > MAX_PENDING {
            pending.truncate(start);
            return;
        }
        self.0.before_write();
        // A failed write fails the final response's too; nothing to do here.
        if let Ok(n) = self.0.stream.try_write(&pending) {
            pending.drain(..n);
        }
    }
}

/// `head` as an HTTP/1.1 interim response, without the fields that are this hop's own.
fn encode(out: &mut Vec<u8>, head: &response::Parts) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.status.canonical_reason().unwrap_or("Informational").as_bytes());
    out.extend_from_slice(b"\r\n");
    let named_by_connection = |name: &HeaderName| {
        head.headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|token| token.trim().eq_ignore_ascii_case(name.as_str())))
    };
    for (name, value) in &head.headers {
        let hop_by_hop = [CONNECTION, CONTENT_LENGTH, TE, TRAILER, TRANSFER_ENCODING, UPGRADE].contains(name)
            || matches!(name.as_str(), "keep-alive" | "proxy-connection");
        if hop_by_hop || named_by_connection(name) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interim_head_goes_without_this_hops_fields() {
        let head = http::Response::builder()
            .status(103)
            .header("link", "</style.css>; rel=preload; as=style")
            .header("link", "</app.js>; rel=preload; as=script")
            .header("connection", "x-hop")
            .header("x-hop", "1")
            .header("content-length", "0")
            .header("keep-alive", "timeout=5")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let mut out = Vec::new();
        encode(&mut out, &head);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\
             link: </app.js>; rel=preload; as=script\r\n\r\n"
        );
    }
}
