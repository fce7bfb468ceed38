//! What an origin's odd or broken answers become for the client, over HTTP/1 and HTTP/2:
//! a body that breaks off still delivers its head; a HEAD gets a head alone, the proxy's
//! own answers included; a 204's length and lengths that disagree are not passed on.
use super::common::origin::raw_origin;
use super::common::*;
use super::simple_to;
use http_body_util::BodyExt;
use std::time::Duration;

/// An origin whose body breaks off (it closes short of its Content-Length, or its chunks
/// stop or go wrong, all in the first packet): the client gets the head and what came of
/// the body, as nginx sends them, then the close with no last chunk; never a connection
/// closed on it without a word (before, a route with the cache or compression, whose
/// filters read ahead, often sent nothing). Plain, cached and compressed routes alike.
#[test]
fn a_body_that_breaks_off_still_delivers_its_head() {
    let broken: [&'static [u8]; 3] = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    ];
    for answer in broken {
        let (upstream, _) = raw_origin(answer);
        let fc = Forecourt::start(&format!(
            "{}[[route]]\npath = \"/c\"\nupstream = \"o\"\ncache = true\n\
             [[route]]\npath = \"/z\"\nupstream = \"o\"\ncompress = true\n[cache]\nmemory = \"1m\"\n",
            simple_to(upstream, "")
        ));
        for path in ["/", "/c/page", "/z/page"] {
            let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n");
            let out = raw(fc.addr(), request.as_bytes(), Duration::from_secs(3));
            let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
            let said = format!("{path} after {:?}: {out:?}", String::from_utf8_lossy(answer));
            assert!(head.starts_with("HTTP/1.1 200 OK"), "{said}");
            assert_eq!(path == "/c/page", head.contains("cache-status"), "through the cache: {said}");
            assert!(!body.ends_with("<still open>") && !body.ends_with("0\r\n\r\n"), "closed, unfinished: {said}");
            if answer.starts_with(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length") {
                assert!(head.to_ascii_lowercase().contains("content-length: 100") && body == "hello", "{said}");
            }
        }
    }
}

/// The same over HTTP/2: the client gets the response's head (and the body so far), then
/// the stream's reset; before, h2 dropped the queued HEADERS with the reset, and the
/// client saw the reset alone.
#[tokio::test]
async fn a_body_that_breaks_off_still_delivers_its_head_over_h2() {
    let broken: [&'static [u8]; 2] = [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    ];
    for answer in broken {
        let (upstream, _) = raw_origin(answer);
        let fc = Forecourt::start(&simple_to(upstream, ""));
        let said = String::from_utf8_lossy(answer);
        let req = http::Request::get(fc.url("/page")).body(Default::default()).unwrap();
        let resp = h2c_client().request(req).await;
        let resp = resp.unwrap_or_else(|e| panic!("no head after {said:?}: {e:?}"));
        assert_eq!(resp.status(), 200, "{said:?}");
        assert!(resp.into_body().collect().await.is_err(), "the body ends in the reset: {said:?}");
    }
}

/// `curl --http2-prior-knowledge` with `args` against `url`: its exit status and what it
/// printed (curl, through nghttp2, checks HTTP/2's rules on what it receives).
fn curl_h2(args: &[&str], url: &str) -> (i32, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-i", "--max-time", "5", "--http2-prior-knowledge"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// A HEAD over HTTP/2 gets the head alone, the proxy's own answers too (a 502 for an
/// upstream that cannot be reached, the WAF's 403); before, their text went out as DATA,
/// which a client takes for a protocol error on a HEAD's stream (curl: PROTOCOL_ERROR).
#[test]
fn a_head_over_h2_gets_a_head_alone_even_from_the_proxy() {
    let (upstream, _) = raw_origin(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    let config = format!(
        "{}[[route]]\npath = \"/dead\"\nupstream = \"dead\"\n[upstream.dead]\nservers = [\"127.0.0.1:9\"]\n\
         [[route]]\npath = \"/w\"\nupstream = \"o\"\nwaf = \"default\"\n\
         [waf.default]\nrules = {}\n",
        simple_to(upstream, ""),
        crate::edge::waf::CRS3
    );
    let fc = Forecourt::start(&config);
    for (path, status) in [("/page", "200"), ("/dead/page", "502"), ("/w/?q=%3Cscript%3Ealert(1)%3C/script%3E", "403")]
    {
        let (code, out) = curl_h2(&["-I"], &fc.url(path));
        assert!(code == 0 && out.starts_with(&format!("HTTP/2 {status}")), "HEAD {path}: {code} {out}");
        let (code, out) = curl_h2(&[], &fc.url(path));
        assert!(code == 0 && out.starts_with(&format!("HTTP/2 {status}")), "GET {path}: {code} {out}");
    }
}

/// A 204 that carries a `Content-Length` goes out without it (an HTTP/1 client would wait
/// for those bytes, or take the next response's; an HTTP/2 client refuses the stream);
/// lengths that disagree are refused (502) even on an answer to a HEAD, where no body
/// follows but the field would be passed on; equal ones go as one.
#[test]
fn a_204s_length_and_lengths_that_disagree_are_not_passed_on() {
    let cases: [(&'static [u8], &str, &str, &str); 3] = [
        (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nstray", "GET", "204", ""),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello", "HEAD", "502", ""),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", "HEAD", "200", "content-length: 5"),
    ];
    for (answer, method, status, length) in cases {
        let (upstream, _) = raw_origin(answer);
        let fc = Forecourt::start(&simple_to(upstream, ""));
        let request = format!("{method} /page HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        let out = raw(fc.addr(), request.as_bytes(), Duration::from_secs(3)).to_ascii_lowercase();
        let said = format!("{method} after {:?}: {out:?}", String::from_utf8_lossy(answer));
        assert!(out.starts_with(&format!("http/1.1 {status}")), "{said}");
        assert_eq!(out.matches("content-length").count(), usize::from(!length.is_empty()), "{said}");
        assert!(out.contains(length), "{said}");
        let head = if method == "HEAD" { vec!["-I"] } else { vec![] };
        let (code, out) = curl_h2(&head, &fc.url("/page"));
        assert!(code == 0 && out.starts_with(&format!("HTTP/2 {status}")), "over h2, {said}: {code} {out}");
    }
}
