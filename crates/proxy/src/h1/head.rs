//! A request head out of the connection's read buffer: parsed with httparse, judged by the
//! framing rules, and turned into the `http::Request` the rest of the proxy works with.
//! Header values and the target are slices of the head's bytes, not copies.
use super::rules::{judge, Facts};
use crate::settings::NonAsciiTargets;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};
use std::mem::MaybeUninit;
use std::ops::Range;

/// The most headers a request may have, whatever the configuration says.
pub const MAX_HEADERS: usize = 128;

/// Why a target with bytes past ASCII was refused (`NonAsciiTargets::Refuse`).
pub(crate) const NON_ASCII: &str = "request target past ASCII";

/// What the buffer holds.
// Matched at once by the caller; boxing the request would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(super) enum Parsed {
    /// The start of a head: more bytes are needed.
    Partial,
    /// A head that passed, taken out of the buffer; its body (if any) follows in the buffer.
    Request(Request<()>, Facts),
    /// A head that must not be served: the status to answer with, and why (for the log).
    Refused(StatusCode, &'static str),
}

/// Where one header's name and value lie within the head.
pub(super) struct Span {
    name: Range<usize>,
    value: Range<usize>,
}

/// Parses the head at the start of `buf`. `spans` is scratch space kept by the connection.
pub(super) fn parse(
    buf: &mut BytesMut,
    max_head_bytes: usize,
    max_headers: usize,
    non_ascii: NonAsciiTargets,
    spans: &mut Vec<Span>,
) -> Parsed {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Partial) if buf.len() <= max_head_bytes => return Parsed::Partial,
        Ok(httparse::Status::Partial) => return Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "head"),
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "too many headers")
        }
        Err(httparse::Error::Version) => match http_version(buf) {
            Some((_, major, _)) if major >= b'2' => {
                return Parsed::Refused(StatusCode::HTTP_VERSION_NOT_SUPPORTED, "HTTP version")
            }
            // RFC 9110 §2.5: a later minor version of HTTP/1 is served as HTTP/1.1 (as
            // nginx serves it); the line is parsed again, once, as HTTP/1.1.
            Some((minor_at, b'1', minor)) if minor >= b'2' => {
                buf[minor_at] = b'1';
                return parse(buf, max_head_bytes, max_headers, non_ascii, spans);
            }
            _ => return Parsed::Refused(StatusCode::BAD_REQUEST, "malformed head"),
        },
        Err(_) => match (non_utf8_target(buf), non_ascii) {
            (None, _) => return Parsed::Refused(StatusCode::BAD_REQUEST, "malformed head"),
            (Some(_), NonAsciiTargets::Refuse) => return Parsed::Refused(StatusCode::BAD_REQUEST, NON_ASCII),
            // Parsed again, once: the target it gives back holds ASCII only.
            (Some(target), NonAsciiTargets::Escape) => {
                *buf = target_made_ascii(buf, target);
                return parse(buf, max_head_bytes, max_headers, non_ascii, spans);
            }
        },
    };
    if len > max_head_bytes {
        return Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "head");
    }
    // No controls, spaces or DEL in the target (RFC 9112 §3.2). Bytes past ASCII (UTF-8 as
    // typed, which httparse lets through) are refused, or percent-encoded below.
    // One pass either way: the refusal's reason is worked out on its own path only.
    let path = req.path.unwrap_or_default();
    let visible_or_past_ascii = |b: u8| b.is_ascii_graphic() || !b.is_ascii();
    let allowed = match non_ascii {
        NonAsciiTargets::Refuse => path.bytes().all(|b| b.is_ascii_graphic()),
        NonAsciiTargets::Escape => path.bytes().all(visible_or_past_ascii),
    };
    if !allowed {
        let past_ascii = non_ascii == NonAsciiTargets::Refuse && path.bytes().all(visible_or_past_ascii);
        return Parsed::Refused(StatusCode::BAD_REQUEST, if past_ascii { NON_ASCII } else { "request target" });
    }
    if req.headers.len() > max_headers {
        return Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "too many headers");
    }
    let facts = match judge(&req) {
        Ok(facts) => facts,
        Err((status, why)) => return Parsed::Refused(status, why),
    };
    let Ok(method) = Method::from_bytes(req.method.unwrap_or_default().as_bytes()) else {
        return Parsed::Refused(StatusCode::BAD_REQUEST, "method");
    };
    let version = if req.version == Some(1) { Version::HTTP_11 } else { Version::HTTP_10 };
    let base = buf.as_ptr() as usize;
    let within = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let target = within(req.path.unwrap_or_default().as_bytes());
    spans.clear();
    spans.extend(req.headers.iter().map(|h| Span { name: within(h.name.as_bytes()), value: within(h.value) }));
    // httparse takes a bare LF as a line end, which RFC 9112 §2.2 only allows: a line the
    // next hop may end elsewhere is a smuggling vector, so it is refused.
    let method_start = within(req.method.unwrap_or_default().as_bytes()).start;
    if !lines_end_in_crlf(&buf[..len], method_start, target.end, spans) {
        return Parsed::Refused(StatusCode::BAD_REQUEST, "bare LF");
    }

    let head: Bytes = buf.split_to(len).freeze();
    // The `http` crate would keep UTF-8 as it came, and refuse other bytes past ASCII: both
    // are escaped, so that one resource has one target for routes, keys and the upstream.
    let parsed = match head[target.clone()].is_ascii() {
        true => Uri::from_maybe_shared(head.slice(target.clone())).or_else(|_| escaped(&head[target])),
        false => escaped(&head[target]),
    };
    let uri = match parsed {
        Ok(uri) if target_form_is_valid(&method, &uri) => uri,
        _ => return Parsed::Refused(StatusCode::BAD_REQUEST, "request target"),
    };
    // Room for the forwarding headers and the request id added on the way upstream.
    let mut map = HeaderMap::with_capacity(spans.len() + 8);
    for span in spans.iter() {
        let name = HeaderName::from_bytes(&head[span.name.clone()]);
        let value = HeaderValue::from_maybe_shared(head.slice(span.value.clone()));
        match (name, value) {
            (Ok(name), Ok(value)) => {
                map.append(name, value);
            }
            _ => return Parsed::Refused(StatusCode::BAD_REQUEST, "header"),
        }
    }
    // An absolute-form target names the host, and the Host header yields to it (RFC 9112
    // §3.2.2), so that routing and the upstream see one and the same host. Userinfo has no
    // place in an http(s) target (RFC 9110 §4.2.4): refused, as it is in a Host header.
    if let Some(authority) = uri.authority() {
        if authority.as_str().contains('@') {
            return Parsed::Refused(StatusCode::BAD_REQUEST, "request target");
        }
        match HeaderValue::from_str(authority.as_str()) {
            Ok(host) => {
                map.insert(http::header::HOST, host);
            }
            Err(_) => return Parsed::Refused(StatusCode::BAD_REQUEST, "request target"),
        }
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = map;
    Parsed::Request(request, facts)
}

/// The version of a request line whose method and target httparse took, when it is HTTP's
/// `HTTP/d.d` (RFC 9112 §2.3) but not one httparse takes: where its minor digit lies in
/// `buf`, its major and its minor digit. Another major version gets a 505 (RFC 9110
/// §15.6.6), `HTTP/0.9` (which never had a version in its line) and any other protocol
/// a 400, as nginx answers.
fn http_version(buf: &[u8]) -> Option<(usize, u8, u8)> {
    let (start, line) = request_line(buf)?;
    let version_at = line.iter().rposition(|&b| b == b' ')? + 1;
    if line[..version_at].iter().filter(|&&b| b == b' ').count() != 2 {
        return None;
    }
    match line[version_at..].strip_prefix(b"HTTP/")? {
        &[major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Some((start + version_at + 7, major, minor))
        }
        _ => None,
    }
}

/// The request line at the start of `buf`, after the empty lines a client may send before
/// it (RFC 9112 §2.2; httparse skips them too): where it starts, and its bytes up to its
/// LF or the buffer's end (it may not have ended yet), without a CR before the LF.
pub(super) fn request_line(buf: &[u8]) -> Option<(usize, &[u8])> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let line = buf[start..].split(|&b| b == b'\n').next().unwrap_or_default();
    Some((start, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// Where the request line's target lies in `buf`, when it is what httparse refused the
/// head for: bytes that are not UTF-8 (Latin-1's raw `ü`, as old clients and replayed logs
/// send it, and nginx serves), as httparse holds the target as text. None when the refusal
/// had another cause.
fn non_utf8_target(buf: &BytesMut) -> Option<Range<usize>> {
    // The line may not have ended yet: httparse refuses the target once its space has come.
    let (start, line) = request_line(buf)?;
    let (first, last) = (line.iter().position(|&b| b == b' ')?, line.iter().rposition(|&b| b == b' ')?);
    let target = line.get(first + 1..last)?;
    if std::str::from_utf8(target).is_ok() || target.iter().any(|b| b.is_ascii_control() || *b == b' ') {
        return None;
    }
    Some(start + first + 1..start + last)
}

/// The buffer again with the `target` found by [`non_utf8_target`] made ASCII: its bytes
/// past ASCII percent-encoded as a browser sends them (`%FC`), which the upstream and the
/// WAF decode to the very bytes sent. Copies the buffer, on this path only.
fn target_made_ascii(buf: &BytesMut, target: Range<usize>) -> BytesMut {
    let escaped = crate::percent::encode(&buf[target.clone()], |_| false);
    let mut out = BytesMut::with_capacity(buf.len() + escaped.len());
    out.extend_from_slice(&buf[..target.start]);
    out.extend_from_slice(escaped.as_bytes());
    out.extend_from_slice(&buf[target.end..]);
    out
}

/// Whether every line of `head` ends in CRLF. httparse has found the lines already, so
/// this looks only where each one ends: after the empty lines it skipped before the
/// method, after the request line (the target, a space, `HTTP/1.x`), after each field
/// value (past the whitespace it trimmed), and at the end of the head; no scan.
fn lines_end_in_crlf(head: &[u8], method_start: usize, target_end: usize, spans: &[Span]) -> bool {
    let crlf_at = |i: usize| head.get(i..i + 2) == Some(b"\r\n");
    let mut ends = spans.iter().map(|s| {
        let mut i = s.value.end;
        while matches!(head.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    });
    method_start & 1 == 0
        && (0..method_start).step_by(2).all(crlf_at)
        && crlf_at(target_end + " HTTP/1.1".len())
        && ends.all(crlf_at)
        && head.len() >= 2
        && crlf_at(head.len() - 2)
}

/// Parses one whole request head as the server does (the same rules, the given limits):
/// the request it becomes, with `Host` as the server sets it, or the status and reason it
/// is refused with. `forecourt explain` asks this, so that it agrees with the server.
pub fn parse_one(
    head: &[u8],
    max_head_bytes: usize,
    max_headers: usize,
    non_ascii: NonAsciiTargets,
) -> Result<Request<()>, (StatusCode, &'static str)> {
    let mut buf = BytesMut::from(head);
    match parse(&mut buf, max_head_bytes, max_headers.min(MAX_HEADERS), non_ascii, &mut Vec::new()) {
        Parsed::Request(req, _) => Ok(req),
        Parsed::Refused(status, why) => Err((status, why)),
        Parsed::Partial => Err((StatusCode::BAD_REQUEST, "incomplete head")),
    }
}

/// The target with the visible ASCII that URIs do not allow (`"`, `<`, `>`, `` ` ``) and
/// every byte past ASCII percent-encoded, as a browser encodes them before it sends a URL
/// (RFC 9112 §3.2 names this repair, as a redirect). Clients that send them as typed (curl,
/// Go, scanners, `/search?q=über`) are served as nginx and Caddy serve them, and the WAF
/// judges what they carry, decoded to the same bytes; the upstream gets a target every
/// server parses. Only reached when the target as sent does not parse, so the common
/// request is not copied.
fn escaped(target: &[u8]) -> Result<Uri, http::uri::InvalidUri> {
    let text = crate::percent::as_browsers_send(target);
    Uri::from_maybe_shared(Bytes::from(text))
}

/// The request target is in one of the forms RFC 9112 §3.2 allows here: origin-form
/// (`/path?query`), absolute-form (`http://host/path`), or `*` for OPTIONS. (Authority-form
/// belongs to CONNECT, which the rules refuse.)
fn target_form_is_valid(method: &Method, uri: &Uri) -> bool {
    match (uri.scheme_str(), uri.authority()) {
        (None, None) => uri.path().starts_with('/') || (uri.path() == "*" && method == Method::OPTIONS),
        (Some(scheme), Some(_)) => scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> (Parsed, BytesMut) {
        parse_as(input, NonAsciiTargets::Refuse)
    }

    fn parse_as(input: &[u8], non_ascii: NonAsciiTargets) -> (Parsed, BytesMut) {
        let mut buf = BytesMut::from(input);
        let parsed = parse(&mut buf, 1024, 10, non_ascii, &mut Vec::new());
        (parsed, buf)
    }

    #[test]
    fn takes_the_head_and_leaves_the_rest() {
        let (parsed, rest) =
            parse_all(b"POST /a?b=1 HTTP/1.1\r\nHost: x\r\nX-One: 1\r\nContent-Length: 3\r\n\r\nabcGET");
        let Parsed::Request(req, facts) = parsed else { panic!("not parsed") };
        assert_eq!((req.method(), req.uri().to_string().as_str()), (&Method::POST, "/a?b=1"));
        assert_eq!(req.headers()["x-one"], "1");
        assert_eq!(facts.framing, super::super::rules::BodyFraming::Fixed(3));
        assert_eq!(&rest[..], b"abcGET");
    }

    #[test]
    fn partial_and_oversized_heads() {
        assert!(matches!(parse_all(b"GET / HTTP/1.1\r\nHost: x\r\n").0, Parsed::Partial));
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}", "y".repeat(2000));
        assert!(matches!(parse_all(big.as_bytes()).0, Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, _)));
        assert!(matches!(
            parse_all(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n").0,
            Parsed::Refused(StatusCode::BAD_REQUEST, _)
        ));
    }

    #[test]
    fn a_later_http_1_is_http_1_1_another_major_version_not_supported_and_another_protocol_malformed() {
        let status = |line: &str| match parse_all(format!("{line}\r\nHost: x\r\n\r\n").as_bytes()).0 {
            Parsed::Refused(status, _) => status,
            _ => StatusCode::OK,
        };
        for line in ["GET / HTTP/2.0", "GET /a?b HTTP/3.0", "PRI * HTTP/2.0"] {
            assert_eq!(status(line), StatusCode::HTTP_VERSION_NOT_SUPPORTED, "{line}");
        }
        let malformed = ["GET / HTTP/0.9", "GET / HTTP/1.10", "GET / HTTP/2", "GET / HTTP/12.0", "GET / FOO/2.0"];
        for line in malformed.into_iter().chain(["GET / http/2.0", "GET HTTP/2.0", "GET  / HTTP/1.2"]) {
            assert_eq!(status(line), StatusCode::BAD_REQUEST, "{line}");
        }
        assert_eq!(status("\r\nGET / HTTP/2.0"), StatusCode::HTTP_VERSION_NOT_SUPPORTED, "after an empty line");
        // A later minor version of HTTP/1 is HTTP/1.1.
        for line in ["GET / HTTP/1.1", "GET /a HTTP/1.2", "GET / HTTP/1.9", "\r\n\r\nGET / HTTP/1.2"] {
            let Parsed::Request(req, facts) = parse_all(format!("{line}\r\nHost: x\r\n\r\n").as_bytes()).0 else {
                panic!("{line} refused")
            };
            assert_eq!((req.version(), facts.keep_alive), (Version::HTTP_11, true), "{line}");
        }
    }

    #[test]
    fn bare_lfs_and_control_bytes_are_refused() {
        for bad in [
            &b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n",
            b"GET / HTTP/1.1\nHost: x\n\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n\n",
            b"GET / HTTP/1.1\nHost: x\r\n\r\n",
        ] {
            assert!(
                matches!(parse_all(bad).0, Parsed::Refused(StatusCode::BAD_REQUEST, _)),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn target_forms() {
        let host_of = |input: &[u8]| match parse_all(input).0 {
            Parsed::Request(req, _) => Ok(req.headers()["host"].to_str().unwrap().to_owned()),
            Parsed::Refused(status, why) => Err((status, why)),
            Parsed::Partial => panic!("partial"),
        };
        assert_eq!(host_of(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("x".into()));
        assert_eq!(host_of(b"GET http://y:81/a HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("y:81".into()), "the target wins");
        assert_eq!(host_of(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("x".into()));
        for bad in [
            &b"GET a HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET * HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET ftp://y/ HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://user:pw@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
            b"GET http://@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        ] {
            assert_eq!(
                host_of(bad),
                Err((StatusCode::BAD_REQUEST, "request target")),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn what_uris_forbid_as_typed_is_percent_encoded_as_browsers_do() {
        let target_of = |input: &[u8]| match parse_as(input, NonAsciiTargets::Escape).0 {
            Parsed::Request(req, _) => Ok(req.uri().to_string()),
            Parsed::Refused(status, why) => Err((status, why)),
            Parsed::Partial => panic!("partial"),
        };
        assert_eq!(
            target_of(b"GET /s?q=<b>\"x\"</b>&c=`id` HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok("/s?q=%3Cb%3E%22x%22%3C/b%3E&c=%60id%60".into())
        );
        assert_eq!(target_of(b"GET /a<b>/c`d HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("/a%3Cb%3E/c%60d".into()));
        // UTF-8 as typed, byte for byte, and bytes that are not UTF-8 (Latin-1's raw ü, which
        // httparse refuses: it holds the target as text) as browsers send them escaped.
        assert_eq!(
            target_of("GET /wiki/東京?q=über HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes()),
            Ok("/wiki/%E6%9D%B1%E4%BA%AC?q=%C3%BCber".into())
        );
        assert_eq!(target_of(b"GET /s?q=\xfcber HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("/s?q=%FCber".into()));
        assert_eq!(
            target_of(b"\r\nGET /caf\xe9/<b>?q=\xe9t\xe9 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok("/caf%E9/%3Cb%3E?q=%E9t%E9".into())
        );
        // Refused as soon as the target has ended, and repaired then: the head completes later.
        let mut buf = BytesMut::from(&b"GET /s?q=\xfcber HTTP/1"[..]);
        let escape = NonAsciiTargets::Escape;
        assert!(matches!(parse(&mut buf, 1024, 10, escape, &mut Vec::new()), Parsed::Partial));
        buf.extend_from_slice(b".1\r\nHost: x\r\n\r\n");
        let Parsed::Request(req, _) = parse(&mut buf, 1024, 10, escape, &mut Vec::new()) else { panic!("not parsed") };
        assert_eq!(req.uri(), "/s?q=%FCber");
        // What else was wrong with the head still is.
        assert_eq!(
            target_of(b"GET /s?q=\xfcber HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n"),
            Err((StatusCode::BAD_REQUEST, "malformed head"))
        );
        assert_eq!(
            target_of(b"GET /s?q=\xfc\x01 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Err((StatusCode::BAD_REQUEST, "malformed head"))
        );
        // What parses as sent is left as sent.
        assert_eq!(target_of(b"GET /a\"{b}|c?d={e}|f HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("/a\"{b}|c?d={e}|f".into()));
        // Escaping makes no other target acceptable: not a host, nor controls or DEL.
        for bad in [
            &b"GET <a HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"GET http://<h>/ HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET http://hôst/ HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes(),
            "GET ü HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes(),
            b"GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let status = target_of(bad).map_err(|(status, _)| status);
            assert_eq!(status, Err(StatusCode::BAD_REQUEST), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// As RFC 9112 §3.2 advises, by default: bytes past ASCII in a target, UTF-8 or not, get
    /// a 400 that names them; nothing else about the head changes.
    #[test]
    fn bytes_past_ascii_in_the_target_are_refused_unless_escaped() {
        for bad in [
            "GET /caf\u{e9} HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes(),
            "GET /s?q=\u{fc}ber&r=<b> HTTP/1.1\r\nHost: x\r\n\r\n".as_bytes(),
            b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /\xc0\xaf../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            let Parsed::Refused(status, why) = parse_all(bad).0 else { panic!("{}", String::from_utf8_lossy(bad)) };
            assert_eq!((status, why), (StatusCode::BAD_REQUEST, NON_ASCII), "{}", String::from_utf8_lossy(bad));
            let Parsed::Request(..) = parse_as(bad, NonAsciiTargets::Escape).0 else { panic!("escaped, served") };
        }
        // ASCII a URI does not allow is escaped either way; a header's obs-text is not the target's.
        let Parsed::Request(req, _) = parse_all(b"GET /s?q=<b> HTTP/1.1\r\nHost: x\r\nX-Name: Jos\xe9\r\n\r\n").0
        else {
            panic!("not parsed")
        };
        assert_eq!(req.uri(), "/s?q=%3Cb%3E");
    }

    /// LIFECYCLE H1, "no panic on network input": heads mutated at random (bytes changed,
    /// cut, doubled, inserted) and random bytes, through the head parser and the framing
    /// rules, and chunked bodies through the decoder, end in a request, a refusal or "more
    /// bytes needed", never a panic. Deterministic (a fixed seed), so a failure repeats.
    #[test]
    fn no_panic_on_network_input() {
        let seeds: [&[u8]; 4] = [
            b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
            b"POST http://h:80/p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
            b"OPTIONS * HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            b"PUT /%zz HTTP/1.1\r\nHost: [::1]:8\r\nX: \t y\r\n\r\n",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000 {
            let mut input = seeds[round % seeds.len()].to_vec();
            for _ in 0..(next() % 6) {
                let at = (next() as usize) % (input.len() + 1);
                match next() % 4 {
                    0 if at < input.len() => input[at] = next() as u8,
                    1 => input.truncate(at),
                    2 => input.insert(at, b"\r\n:; \t\0\x7f"[(next() % 8) as usize]),
                    _ => {
                        let piece = input[at..].to_vec();
                        input.extend_from_slice(&piece);
                    }
                }
            }
            if round % 10 == 0 {
                input = (0..(next() % 200)).map(|_| next() as u8).collect();
            }
            for non_ascii in [NonAsciiTargets::Refuse, NonAsciiTargets::Escape] {
                let _ = parse(&mut BytesMut::from(&input[..]), 1024, 16, non_ascii, &mut Vec::new());
            }
            let mut framing = forecourt_upstream::chunked::ChunkedFraming::default();
            let mut body = BytesMut::from(&input[..]);
            while let Ok(Some(_)) = framing.decode(&mut body) {}
        }
    }
}
