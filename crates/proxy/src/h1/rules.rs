//! The rules a request head must pass before anything is forwarded (RFC 9112 §6 framing,
//! §3.2 Host, §9.3 persistence). Pure functions over a parsed head.
use http::StatusCode;

/// How a request body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BodyFraming {
    None,
    Fixed(u64),
    Chunked,
}

/// What a head that passes says about its message and its connection.
#[derive(Debug)]
pub(super) struct Facts {
    pub framing: BodyFraming,
    pub expect_continue: bool,
    /// The client wants the connection kept after this exchange.
    pub keep_alive: bool,
}

/// Why a head is refused: the status it is answered with, and the reason for the log.
pub(super) type Refusal = (StatusCode, &'static str);

fn bad(why: &'static str) -> Refusal {
    (StatusCode::BAD_REQUEST, why)
}

/// Decides whether a complete head may pass and how its body is framed; `Err` carries the
/// answer's status (400, or 501 for a transfer coding this proxy does not decode) and the
/// reason for the log.
pub(super) fn judge(req: &httparse::Request<'_, '_>) -> Result<Facts, Refusal> {
    let http11 = req.version == Some(1);
    let mut content_length: Option<&[u8]> = None;
    let mut transfer_encodings = 0;
    let mut codings = Codings::default();
    let mut hosts = 0;
    let mut expect_continue = false;
    let (mut close, mut keep_alive) = (false, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = h.value;
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                return Err(bad("invalid Content-Length"));
            }
            if content_length.is_some_and(|prev| prev != v) {
                return Err(bad("conflicting Content-Length"));
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encodings += 1;
            codings.add(h.value);
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if !valid_host(h.value) {
                return Err(bad("invalid Host"));
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = h.value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    let chunked = transfer_encodings > 0;
    if chunked {
        if content_length.is_some() {
            return Err(bad("Content-Length with Transfer-Encoding"));
        }
        if !http11 {
            return Err(bad("Transfer-Encoding in HTTP/1.0"));
        }
        // RFC 9112 §6.3: a body whose last coding is not chunked has no length the
        // proxy could find (400); chunked once, last, after other codings is well framed
        // in codings the proxy does not decode (§6.1: 501, as nginx answers).
        if codings.malformed || !codings.last_chunked || codings.chunked > 1 {
            return Err(bad("Transfer-Encoding other than a single chunked"));
        }
        if codings.count > 1 {
            return Err((StatusCode::NOT_IMPLEMENTED, "Transfer-Encoding other than chunked"));
        }
    }
    if http11 && hosts != 1 {
        return Err(bad("HTTP/1.1 request without exactly one Host"));
    }
    if hosts > 1 {
        return Err(bad("several Host headers"));
    }
    if req.method == Some("CONNECT") {
        // A reverse proxy opens no tunnels to arbitrary places (nginx answers 400 too).
        return Err(bad("CONNECT"));
    }
    let framing = if chunked {
        BodyFraming::Chunked
    } else {
        match content_length.map(|v| std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok())) {
            Some(None) => return Err(bad("invalid Content-Length")),
            Some(Some(n)) if n > 0 => BodyFraming::Fixed(n),
            _ => BodyFraming::None,
        }
    };
    let keep_alive = if http11 { !close } else { keep_alive && !close };
    Ok(Facts { framing, expect_continue: expect_continue && http11 && framing != BodyFraming::None, keep_alive })
}

/// The transfer codings of a request's `Transfer-Encoding` lines, as one list.
#[derive(Default)]
struct Codings {
    count: usize,
    chunked: usize,
    last_chunked: bool,
    /// An empty member, or one that is not a bare token (a coding with parameters).
    malformed: bool,
}

impl Codings {
    fn add(&mut self, line: &[u8]) {
        for coding in line.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            self.malformed |= coding.is_empty() || !coding.iter().all(|&b| is_tchar(b));
            self.count += 1;
            self.last_chunked = coding.eq_ignore_ascii_case(b"chunked");
            self.chunked += usize::from(self.last_chunked);
        }
    }
}

/// A byte of an RFC 9110 §5.6.2 token.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A Host value: reg-name or IP literal with an optional port; no userinfo, paths or spaces.
fn valid_host(v: &[u8]) -> bool {
    !v.is_empty()
        && v.iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']' | b'~' | b'%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(head: &[u8]) -> Result<Facts, Refusal> {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        assert!(req.parse(head).unwrap().is_complete());
        judge(&req)
    }

    #[test]
    fn persistence_follows_version_and_connection() {
        assert!(facts(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().keep_alive);
        assert!(!facts(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x, Close\r\n\r\n").unwrap().keep_alive);
        assert!(!facts(b"GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        assert!(facts(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().keep_alive);
    }

    #[test]
    fn framing_and_expectations() {
        let f = facts(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n").unwrap();
        assert_eq!((f.framing, f.expect_continue), (BodyFraming::Fixed(5), true));
        let f = facts(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n").unwrap();
        assert_eq!((f.framing, f.expect_continue), (BodyFraming::None, false));
        assert_eq!(facts(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(), bad("CONNECT"));
    }

    #[test]
    fn transfer_codings_are_chunked_once_and_last_or_refused() {
        let te = |lines: &[&str]| {
            let head: String = lines.iter().map(|l| format!("Transfer-Encoding: {l}\r\n")).collect();
            facts(format!("POST / HTTP/1.1\r\nHost: a\r\n{head}\r\n").as_bytes()).map(|f| f.framing)
        };
        assert_eq!(te(&["chunked"]), Ok(BodyFraming::Chunked));
        assert_eq!(te(&["Chunked"]), Ok(BodyFraming::Chunked));
        // Well framed, in codings the proxy does not decode: 501.
        for lines in [&["gzip, chunked"][..], &["gzip", "chunked"], &["x-custom ,chunked"]] {
            assert_eq!(te(lines).unwrap_err().0, StatusCode::NOT_IMPLEMENTED, "{lines:?}");
        }
        // No length to be found, or not a list of codings: 400.
        let malformed: [&[&str]; 8] = [
            &["gzip"],
            &["chunked, gzip"],
            &["chunked", "gzip"],
            &["chunked, chunked"],
            &["chunked", "chunked"],
            &["chunked,"],
            &[", chunked"],
            &["gzip;q=1, chunked"],
        ];
        for lines in malformed {
            assert_eq!(te(lines).unwrap_err().0, StatusCode::BAD_REQUEST, "{lines:?}");
        }
        let h10 = facts(b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h10.unwrap_err(), bad("Transfer-Encoding in HTTP/1.0"));
    }
}
