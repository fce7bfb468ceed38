//! The rules a request head must pass before anything is forwarded (RFC 9112 §6 framing,
//! §3.2 Host, §9.3 persistence). Pure functions over a parsed head.

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

/// Decides whether a complete head may pass and how its body is framed; `Err` carries the
/// reason for the debug log (the answer is always 400).
pub(super) fn judge(req: &httparse::Request<'_, '_>) -> Result<Facts, &'static str> {
    let http11 = req.version == Some(1);
    let mut content_length: Option<&[u8]> = None;
    let mut transfer_encodings = 0;
    let mut chunked = false;
    let mut hosts = 0;
    let mut expect_continue = false;
    let (mut close, mut keep_alive) = (false, false);
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let v = h.value;
            if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
                return Err("invalid Content-Length");
            }
            if content_length.is_some_and(|prev| prev != v) {
                return Err("conflicting Content-Length");
            }
            content_length = Some(v);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encodings += 1;
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if !valid_host(h.value) {
                return Err("invalid Host");
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
    if transfer_encodings > 0 {
        if content_length.is_some() {
            return Err("Content-Length with Transfer-Encoding");
        }
        if transfer_encodings > 1 || !chunked {
            return Err("Transfer-Encoding other than a single chunked");
        }
        if !http11 {
            return Err("Transfer-Encoding in HTTP/1.0");
        }
    }
    if http11 && hosts != 1 {
        return Err("HTTP/1.1 request without exactly one Host");
    }
    if hosts > 1 {
        return Err("several Host headers");
    }
    if req.method == Some("CONNECT") {
        // A reverse proxy opens no tunnels to arbitrary places (nginx answers 400 too).
        return Err("CONNECT");
    }
    let framing = if chunked {
        BodyFraming::Chunked
    } else {
        match content_length.map(|v| std::str::from_utf8(v).ok().and_then(|s| s.parse::<u64>().ok())) {
            Some(None) => return Err("invalid Content-Length"),
            Some(Some(n)) if n > 0 => BodyFraming::Fixed(n),
            _ => BodyFraming::None,
        }
    };
    let keep_alive = if http11 { !close } else { keep_alive && !close };
    Ok(Facts { framing, expect_continue: expect_continue && http11 && framing != BodyFraming::None, keep_alive })
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

    fn facts(head: &[u8]) -> Result<Facts, &'static str> {
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
        assert_eq!(facts(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(), "CONNECT");
    }
}
