//! The rules a request head must pass before hyper sees it (RFC 9112 §6 framing and
//! §3.2 Host), and where a chunked body ends. Pure functions over a parsed head.
use super::Framing;
use forecourt_upstream::chunked::{BadChunk, ChunkedFraming};

/// Whether a head passes, and how its body is framed.
pub(super) enum Verdict {
    Body(Framing),
    /// Refused; the reason goes to the debug log.
    Refuse(&'static str),
    /// Not ours to judge (CONNECT): hyper answers it.
    HandToHyper,
}

/// Decides whether a complete head may pass and how its body is framed.
pub(super) fn judge(req: &httparse::Request<'_, '_>) -> Verdict {
    let mut content_length: Option<&[u8]> = None;
    let mut transfer_encodings = 0;
    let mut chunked = false;
    let mut hosts = 0;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = h.value;
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                return Verdict::Refuse("invalid Content-Length");
            }
            if content_length.is_some_and(|prev| prev != v) {
                return Verdict::Refuse("conflicting Content-Length");
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encodings += 1;
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if !valid_host(h.value) {
                return Verdict::Refuse("invalid Host");
            }
        }
    }
    if transfer_encodings > 0 {
        if content_length.is_some() {
            return Verdict::Refuse("Content-Length with Transfer-Encoding");
        }
        if transfer_encodings > 1 || !chunked {
            return Verdict::Refuse("Transfer-Encoding other than a single chunked");
        }
        if req.version != Some(1) {
            return Verdict::Refuse("Transfer-Encoding in HTTP/1.0");
        }
    }
    if req.version == Some(1) && hosts != 1 {
        return Verdict::Refuse("HTTP/1.1 request without exactly one Host");
    }
    if hosts > 1 {
        return Verdict::Refuse("several Host headers");
    }
    if req.method == Some("CONNECT") {
        return Verdict::HandToHyper;
    }
    if chunked {
        return Verdict::Body(Framing::Chunked { scan: ChunkedFraming::default(), held: false });
    }
    match content_length.map(|v| std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok())) {
        Some(None) => Verdict::Refuse("invalid Content-Length"),
        Some(Some(n)) if n > 0 => Verdict::Body(Framing::Fixed(n)),
        _ => Verdict::Body(Framing::Head),
    }
}

/// How many of `bytes` belong to the chunked body (all, unless it ends among them).
pub(super) fn body_end(framing: &mut ChunkedFraming, bytes: &[u8]) -> Result<usize, BadChunk> {
    let mut at = 0;
    while at < bytes.len() && !framing.is_done() {
        at += framing.advance(&bytes[at..])?.consumed;
    }
    Ok(at)
}

pub(super) fn expects_continue(req: &httparse::Request<'_, '_>) -> bool {
    req.headers.iter().any(|h| h.name.eq_ignore_ascii_case("expect") && h.value.eq_ignore_ascii_case(b"100-continue"))
}

/// A Host value: reg-name or IP literal with an optional port; no userinfo, paths or spaces.
fn valid_host(v: &[u8]) -> bool {
    !v.is_empty()
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']' | b'~' | b'%'))
}
