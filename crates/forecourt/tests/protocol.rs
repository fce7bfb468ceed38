//! End-to-end: HTTP/1.1 and HTTP/2 protocol behaviour, request smuggling, streaming,
//! upgrades (client timers and limits: `protocol/client_timers.rs`; what an origin's odd
//! or broken answers become: `protocol/response_framing.rs`; its interim responses:
//! `protocol/interim.rs`; refused requests in the access log: `protocol/refusals_logged.rs`).
#[path = "protocol/client_timers.rs"]
mod client_timers;
#[path = "protocol/interim.rs"]
mod interim;
#[path = "protocol/refusals_logged.rs"]
mod refusals_logged;
#[path = "protocol/response_framing.rs"]
mod response_framing;
use crate::common;

use common::origin::{raw_origin, Origin};
use common::*;
use futures_util::{SinkExt, StreamExt};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn simple(origin: &Origin, extra_global: &str) -> String {
    simple_to(origin.addr, extra_global)
}

/// One worker, one route, everything to the server at `upstream`.
pub(crate) fn simple_to(upstream: std::net::SocketAddr, extra_global: &str) -> String {
    format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"off\"\n{extra_global}\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\n\
         [upstream.o]\nservers = [\"{upstream}\"]\n"
    )
}

/// Requests two parsers could read differently: each gets 400 and a closed connection, and
/// none reaches the origin. Two that are well formed in what the proxy does not serve get
/// the 5xx nginx answers them with, and a closed connection too.
#[test]
fn ambiguous_requests_are_refused_and_never_forwarded() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let corpus: &[(&str, &[u8])] = &[
        (
            "CL then TE",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        (
            "TE then CL",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
        ),
        ("two lengths", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("length list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\nab"),
        ("signed length", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc"),
        ("TE not chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc"),
        ("TE chunked not last", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        (
            "TE twice",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ),
        ("TE obfuscated", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
        ("TE with tab", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\tchunked\x0b\r\n\r\n0\r\n\r\n"),
        ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\n\r\n"),
        ("space before colon", b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n"),
        ("bad name byte", b"GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n"),
        ("bad chunk size", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("negative chunk", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n"),
        (
            "chunk size overflow",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\na\r\n0\r\n\r\n",
        ),
        ("bare LF chunk", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n"),
        ("no Host", b"GET / HTTP/1.1\r\n\r\n"),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        ("bad Host", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        ("bad request line", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("bad version", b"GET / HTTP/1.01\r\nHost: a\r\n\r\n"),
        ("CONNECT", b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
        ("target without a slash", b"GET a HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("target of another scheme", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"),
        (
            "control byte in a chunk extension",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;a\x0bb\r\nx\r\n0\r\n\r\n",
        ),
        ("bare LF in the head", b"GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n"),
        ("bare LF lines only", b"GET / HTTP/1.1\nHost: a\n\n"),
        ("CR without LF between fields", b"GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n"),
        (
            "chunk extension without a name",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
        ),
        (
            "chunk data without CRLF",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        ),
        // Bytes past ASCII, whose charset the next hop may guess otherwise (escaped and
        // served only where `non_ascii_targets = "escape"`: `targets_typed_in_utf8_or_...`).
        ("UTF-8 in the target", "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes()),
        ("Latin-1 byte in the target", b"GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("overlong UTF-8 slash in the target", b"GET /a\xc0\xaf..\xc0\xafetc HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("control byte past Latin-1 in the target", b"GET /\xe9\x01 HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("control byte in the target", b"GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("unknown protocol name", b"GET / FOO/1.1\r\nHost: a\r\n\r\n"),
    ];
    let not_served: &[(&str, &[u8], u16)] = &[
        // RFC 9112 §6.1: a transfer coding the proxy does not decode, chunked last.
        (
            "TE gzip then chunked",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "TE gzip and chunked on two lines",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        // RFC 9110 §15.6.6: another major version of HTTP in an HTTP/1 request line.
        ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ];
    let expected = corpus.iter().map(|(name, bytes)| (*name, *bytes, 400)).chain(not_served.iter().copied());
    let mut failures = Vec::new();
    for (name, bytes, status) in expected {
        let out = raw(fc.addr(), bytes, Duration::from_secs(3));
        let closed = !out.ends_with("<still open>");
        if statuses(&out) != [status] || !closed {
            failures.push(format!("{name}: statuses {:?}, closed {closed}: {out:?}", statuses(&out)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(origin.hits(), 0, "an ambiguous request reached the origin");
}

/// A later minor version of HTTP/1 is served as HTTP/1.1 (RFC 9110 §2.5), as nginx serves
/// it: the origin sees HTTP/1.1, the connection stays open for the next request.
#[test]
fn a_later_minor_version_of_http_1_is_served_as_http_1_1() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let two = b"GET /a HTTP/1.2\r\nHost: a\r\n\r\nGET /b HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n";
    let out = raw(fc.addr(), two, Duration::from_secs(3));
    assert_eq!(statuses(&out), [200, 200], "{out}");
    assert!(out.contains("uri=/a\nversion=HTTP/1.1") && out.contains("uri=/b\nversion=HTTP/1.1"), "{out}");
}

/// A target typed with characters URIs do not allow (curl, Go's client, a scanner send
/// them so) is served, as nginx and Caddy serve it, and reaches the origin percent-encoded
/// as a browser would have sent it: one resource, one target. With `non_ascii_targets =
/// "escape"` so is one with UTF-8 or Latin-1's raw bytes (old clients, replayed logs), over
/// HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn targets_typed_in_utf8_or_with_quotes_reach_the_origin_escaped() {
    let origin = Origin::start("o");
    let strict = Forecourt::start(&simple(&origin, ""));
    let out =
        raw(strict.addr(), b"GET /s?q=<b>`x` HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(5));
    assert!(statuses(&out) == [200] && out.contains("uri=/s?q=%3Cb%3E%60x%60"), "{out}");
    drop(strict);
    let fc = Forecourt::start(&simple(&origin, "[global.limits]\nnon_ascii_targets = \"escape\""));
    let out = raw(
        fc.addr(),
        "GET /wiki/東京?q=\"über\" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&out), [200], "{out}");
    assert!(out.contains("uri=/wiki/%E6%9D%B1%E4%BA%AC?q=%22%C3%BCber%22"), "{out}");
    let out = raw(
        fc.addr(),
        b"GET /caf\xe9?q=\xfcber HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&out), [200], "{out}");
    assert!(out.contains("uri=/caf%E9?q=%FCber"), "{out}");
    let req = http::Request::get(fc.url("/wiki/東京?q=über")).body(Default::default()).unwrap();
    let r = send(&h2c_client(), req).await;
    assert!(r.status == 200 && r.body.contains("uri=/wiki/%E6%9D%B1%E4%BA%AC?q=%C3%BCber"), "{}", r.body);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let out = raw(
        fc.addr(),
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&out), [200, 200, 200]);
    let (one, two, three) = (out.find("uri=/1").unwrap(), out.find("uri=/2").unwrap(), out.find("uri=/3").unwrap());
    assert!(one < two && two < three, "{out}");
    assert!(out.contains("body-bytes=3"));
}

#[test]
fn expect_continue_and_chunked_uploads() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(b"hello").unwrap();
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    assert!(rest.contains("received 5"), "{rest}");

    let out = raw(
        fc.addr(),
        b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(out.contains("received 7"), "{out}");
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A 1 GiB download and a 1 GiB upload stream through with flat memory.
#[test]
fn gigabyte_bodies_stream_with_flat_memory() {
    const GIB: u64 = 1 << 30;
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let before = peak_rss_kib(fc.child.id());

    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.write_all(format!("GET /big?n={GIB} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut buf).unwrap() {
            0 => break,
            n => total += n as u64,
        }
    }
    assert!(total > GIB && total < GIB + 4096, "got {total} bytes");

    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.write_all(
        format!("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {GIB}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let chunk = vec![b'u'; 1 << 20];
    for _ in 0..(GIB >> 20) {
        s.write_all(&chunk).unwrap();
    }
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.contains(&format!("received {GIB}")), "{reply}");

    let after = peak_rss_kib(fc.child.id());
    assert!(after < before + 32 * 1024, "peak RSS grew from {before} KiB to {after} KiB");
}

#[tokio::test]
async fn websocket_is_tunnelled_both_ways() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws", fc.port)).await.unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        ws.send(tokio_tungstenite::tungstenite::Message::text(format!("ping {i}"))).await.unwrap();
        let reply = ws.next().await.unwrap().unwrap();
        assert_eq!(reply.into_text().unwrap().as_str(), format!("ping {i}"));
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn h2c_downstream_and_upstream() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    // Several requests on one HTTP/2 connection: each id (kept out of HPACK's table, as
    // unique values) reaches both the origin and the client whole and distinct.
    let client = h2c_client();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..3 {
        let req = http::Request::get(fc.url("/via-h2c")).body(Default::default()).unwrap();
        let r = send(&client, req).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("uri=/via-h2c") && r.body.contains("version=HTTP/1.1"), "{}", r.body);
        assert!(r.body.contains("host: 127.0.0.1:"), "HTTP/2 authority becomes Host: {}", r.body);
        assert!(ids.insert(request_id_of(&r)), "ids repeat: {ids:?}");
    }
    // A `:path` with UTF-8 as typed is refused as HTTP/1's target is (escaped and served
    // with `non_ascii_targets = "escape"`: `targets_typed_in_utf8_...`); the connection goes on.
    let seen = origin.hits();
    let req = http::Request::get(fc.url("/wiki/東京?q=über")).body(Default::default()).unwrap();
    let r = send(&client, req).await;
    assert!(r.status == 400 && r.body.contains("request id: "), "{}", r.body);
    assert_eq!(origin.hits(), seen, "a refused target reached the origin");
    let req = http::Request::get(fc.url("/after")).body(Default::default()).unwrap();
    assert_eq!(send(&client, req).await.status, 200);

    let config = simple(&origin, "").replace("[upstream.o]", "[upstream.o]\nprotocol = \"h2c\"");
    let fc2 = Forecourt::start(&config);
    for _ in 0..3 {
        let r = get(&fc2.url("/to-h2")).await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("version=HTTP/2.0") && r.body.contains("uri=http://127.0.0.1:"), "{}", r.body);
        assert!(ids.insert(request_id_of(&r)), "ids repeat: {ids:?}");
    }
}

/// The response's generated `x-request-id`, checked to be the one the origin was sent.
fn request_id_of(r: &Reply) -> String {
    let id = r.headers.get("x-request-id").expect("x-request-id").to_str().unwrap().to_string();
    assert_eq!(id.len(), 28, "{id}");
    assert!(r.body.contains(&format!("x-request-id: {id}\n")), "origin saw another id than {id}: {}", r.body);
    id
}

/// An `Upgrade` header that the upstream does not take up (no 101) does not switch the
/// checks off: a smuggling attempt later on the same connection is still refused.
#[test]
fn an_unanswered_upgrade_keeps_the_connection_checked() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let out = raw(
        fc.addr(),
        b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n\
          POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(statuses(&out), [200, 400], "{out}");
    assert_eq!(origin.hits(), 1);
}

/// Responses are framed for the client that asked: a body of unknown length goes chunked
/// to HTTP/1.1 and close-delimited to HTTP/1.0; HEAD gets the head alone; an HTTP/1.0
/// client keeps its connection only when it asks to.
#[test]
fn responses_are_framed_for_the_client() {
    let (chunked_origin, _) =
        raw_origin(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    let fc = Forecourt::start(&simple_to(chunked_origin, ""));
    let out = raw(fc.addr(), b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(3));
    assert!(
        out.contains("transfer-encoding: chunked\r\n") && out.ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        "{out:?}"
    );
    let out = raw(fc.addr(), b"GET / HTTP/1.0\r\nHost: a\r\n\r\n", Duration::from_secs(3));
    assert!(!out.contains("transfer-encoding") && out.ends_with("\r\n\r\nhello"), "{out:?}");

    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let out = raw(
        fc.addr(),
        b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /kept HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n\
          GET /last HTTP/1.0\r\nHost: a\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(statuses(&out), [200, 200, 200], "{out:?}");
    let (head_response, rest) = out.split_once("\r\n\r\n").unwrap();
    assert!(
        head_response.contains("content-length: ") && rest.starts_with("HTTP/1.1 200"),
        "HEAD has no body: {out:?}"
    );
    let kept = &rest[..rest.find("uri=/kept").unwrap()];
    assert!(kept.contains("connection: keep-alive"), "{out:?}");
    assert!(!out.ends_with("<still open>") && out.contains("uri=/last"), "HTTP/1.0 without keep-alive closes: {out:?}");
}

/// The last response on a connection may wait in the kernel for the close, to leave with
/// the FIN: whichever way the connection ends, it arrives whole, then the connection ends.
#[test]
fn closing_responses_arrive_whole_and_at_once() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, "[global.limits]\nmax_body = 1000"));
    let chunked_over_limit = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n",
        "y".repeat(0x800)
    );
    let cases: [(&str, &[u8], u16, &str); 6] = [
        ("Connection: close", b"GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200, "uri=/small"),
        ("HTTP/1.0", b"GET /ten HTTP/1.0\r\nHost: a\r\n\r\n", 200, "uri=/ten"),
        ("streamed MiB", b"GET /big?n=1048576 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200, "bbbb"),
        ("refused", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, ""),
        ("body left unread", b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\nxx", 413, ""),
        ("over the limit while streaming", chunked_over_limit.as_bytes(), 413, ""),
    ];
    for (what, request, status, tail) in cases {
        let started = Instant::now();
        let out = raw(fc.addr(), request, Duration::from_secs(5));
        assert_eq!(statuses(&out), [status], "{what}: {out:.300}");
        assert!(!out.ends_with("<still open>") && out.contains(tail), "{what}: {out:.300}");
        assert!(started.elapsed() < Duration::from_secs(1), "{what}: took {:?}", started.elapsed());
    }
    let big = raw(fc.addr(), cases[2].1, Duration::from_secs(5));
    assert_eq!(big.len() - big.find("\r\n\r\n").unwrap() - 4, 1 << 20, "the whole MiB arrived");
}

/// An absolute-form target names the host: the Host header yields to it, for routing and
/// for the upstream alike (RFC 9112 §3.2.2).
#[test]
fn an_absolute_target_names_the_host() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let out = raw(
        fc.addr(),
        b"GET http://example.com/abs?q=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(statuses(&out), [200], "{out}");
    assert!(out.contains("uri=/abs?q=1") && out.contains("host: example.com"), "{out}");
    assert!(!out.contains("host: other"), "{out}");
}

/// An offer to upgrade to h2c is not passed on (it would let the client talk to the backend
/// past every route): the request is served as a plain one.
#[test]
fn an_h2c_upgrade_offer_is_not_passed_on() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let out = raw(
        fc.addr(),
        b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\
          HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(statuses(&out), [200, 200], "{out}");
    assert!(out.contains("uri=/plain") && out.contains("uri=/next"), "{out}");
    let lower = out.to_lowercase();
    assert!(!lower.contains("upgrade: h2c") && !lower.contains("http2-settings"), "{out}");
}

/// HTTP/2 requests have the same bound on their headers as HTTP/1 (`max_header_bytes`),
/// not hyper's own 16 KiB.
#[tokio::test]
async fn h2c_headers_have_the_configured_bound() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let with_header = |bytes: usize| {
        http::Request::get(fc.url("/h")).header("x-big", "v".repeat(bytes)).body(Default::default()).unwrap()
    };
    let r = send(&h2c_client(), with_header(24 << 10)).await;
    assert_eq!(r.status, 200, "24 KiB of headers, under the default 32k");
    let r = send(&h2c_client(), with_header(40 << 10)).await;
    assert_eq!(r.status, 431, "40 KiB of headers");
}

/// An absolute-form target with userinfo is refused as the same value in a Host header is
/// (it would otherwise reach Host, X-Forwarded-Host and Forwarded), and `explain` reads
/// the target as the server does.
#[test]
fn a_userinfo_in_an_absolute_target_is_refused_and_explain_agrees() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let out = raw(
        fc.addr(),
        b"GET http://user:pw@example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(statuses(&out), [400], "{out}");
    assert_eq!(origin.hits(), 0, "nothing forwarded");
    let explain = |url: &str| {
        let out = std::process::Command::new(BIN).args(["explain", "-c", &fc.config, "GET", url]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = explain("http://user:pw@example.com/");
    assert!(refused.contains("refused (request target); Forecourt answers 400 Bad Request"), "{refused}");
    let served = explain("http://EXAMPLE.com:8080/a");
    assert!(served.contains("host `EXAMPLE.com`") && served.contains("route:    route#1"), "{served}");
}

/// A chunked body on GET or HEAD reaches the upstream whole, as any other method's does,
/// and is not taken for the next request.
#[test]
fn a_chunked_body_on_get_or_head_reaches_the_upstream() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let out = raw(
        fc.addr(),
        b"GET /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
          HEAD /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(statuses(&out), [200, 200, 200], "{out}");
    assert!(out.contains("method=GET\nuri=/echo") && out.contains("body-bytes=5\n"), "{out}");
    assert!(out.contains("uri=/after"), "{out}");
    assert_eq!(origin.echoed_bytes.load(std::sync::atomic::Ordering::SeqCst), 8, "both bodies arrived");
}

/// TRACE (which would echo the request, cookies and all) gets 405 unless a route lists it.
#[test]
fn trace_is_refused_unless_a_route_lists_it() {
    let origin = Origin::start("o");
    let config = simple(&origin, "").replace(
        "[[route]]\nupstream = \"o\"",
        "[[route]]\npath = \"/debug/\"\nmethods = [\"TRACE\"]\nupstream = \"o\"\n[[route]]\nupstream = \"o\"",
    );
    let fc = Forecourt::start(&config);
    let out = raw(fc.addr(), b"TRACE /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(3));
    assert_eq!(statuses(&out), [405], "{out}");
    assert!(out.to_lowercase().contains("allow: get, head, post"), "{out}");
    assert_eq!(origin.hits(), 0);
    let out =
        raw(fc.addr(), b"TRACE /debug/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(3));
    assert_eq!(statuses(&out), [200], "{out}");
    assert!(out.contains("method=TRACE"), "{out}");
}

/// gRPC through Forecourt to a real grpcio server, over h2c and over TLS: unary,
/// server streaming, bidirectional streaming turn by turn (no request buffering holds a
/// message back), an error status with trailers, a deadline, and Forecourt's own
/// answer to a call no server can take (a trailers-only UNAVAILABLE, not a text 502).
#[test]
fn grpc_works_end_to_end_over_h2c_and_tls() {
    let here = format!("{}/tests/grpc", env!("CARGO_MANIFEST_DIR"));
    let grpc_port = free_port();
    let mut server = Killed(
        std::process::Command::new("python3")
            .args([&format!("{here}/server.py"), &grpc_port.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 with grpcio (pip install grpcio)"),
    );
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.0.stdout.take().unwrap()), &mut ready).unwrap();
    assert_eq!(ready.trim(), "ready", "the gRPC server started");
    let ca = common::pki::TestCa::new();
    let dir = TempDir::new("grpc");
    let (cert, key) = ca.leaf(&["localhost"]);
    let ca_file = dir.file("ca.pem", &ca.pem());
    let (tls_port, dead) = (free_port(), free_port());
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[listen]]\naddr = \"127.0.0.1:{tls_port}\"\ntls = true\n\
         [[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\ndefault = true\n\
         [[route]]\npath = \"/dead.Service/\"\nupstream = \"dead\"\n[[route]]\nupstream = \"grpc\"\n\
         [upstream.grpc]\nservers = [\"127.0.0.1:{grpc_port}\"]\nprotocol = \"h2c\"\n\
         [upstream.dead]\nservers = [\"127.0.0.1:{dead}\"]\nprotocol = \"h2c\"\n",
        dir.file("cert.pem", &cert),
        dir.file("key.pem", &key),
    ));
    wait_for_port(tls_port);
    let h2c = format!("127.0.0.1:{}", fc.port);
    let tls = format!("127.0.0.1:{tls_port}");
    for args in [vec![h2c.as_str()], vec![tls.as_str(), ca_file.as_str(), "localhost"]] {
        let out = std::process::Command::new("python3").arg(format!("{here}/client.py")).args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let calls: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let call = |name: &str| calls.iter().find(|c| c["call"] == name).unwrap_or_else(|| panic!("{name}: {text}"));
        let via = args[0];
        assert_eq!(call("unary")["got"], "echo:hi", "{via}: {text}");
        assert_eq!(call("stream")["got"], serde_json::json!(["item-0", "item-1", "item-2"]), "{via}: {text}");
        assert_eq!(call("chat")["got"], serde_json::json!(["echo:a", "echo:b", "echo:c"]), "{via}: {text}");
        let fail = call("fail");
        assert_eq!(
            (&fail["code"], &fail["details"]),
            (&"FAILED_PRECONDITION".into(), &"no such thing".into()),
            "{via}"
        );
        assert_eq!(fail["trailers"]["x-detail"], "trailer-value", "{via}: trailers pass: {text}");
        let deadline = call("deadline");
        assert_eq!(deadline["code"], "DEADLINE_EXCEEDED", "{via}: {text}");
        assert!(deadline["seconds"].as_f64().unwrap() < 2.0, "{via}: the deadline held: {text}");
        assert_eq!(call("after")["got"], "echo:again", "{via}: {text}");
        let no_server = call("no_server");
        assert_eq!(no_server["code"], "UNAVAILABLE", "{via}: {text}");
        assert!(no_server["details"].as_str().unwrap().contains("request id:"), "{via}: {text}");
        assert!(!no_server["details"].as_str().unwrap().contains(&dead.to_string()), "{via}: names no backend");
    }
}

/// A child process killed when the test ends, passed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A response that goes out before its request's body was read (a fixed answer here)
/// leaves the connection usable only if the rest of that body is already buffered, to be
/// skipped; otherwise the connection closes, and what follows is never read as a request.
#[test]
fn a_response_before_its_body_keeps_the_connection_only_if_the_body_is_here() {
    let origin = Origin::start("o");
    let config = simple(&origin, "")
        .replace("[[route]]\nupstream = \"o\"", "[[route]]\npath = \"=/fixed\"\nrespond = { body = \"fixed\" }");
    let fc = Forecourt::start(&config);
    let buffered = raw(
        fc.addr(),
        b"POST /fixed HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
          GET /fixed HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    );
    assert_eq!(statuses(&buffered), [200, 200], "{buffered}");
    let unread = raw(
        fc.addr(),
        b"POST /fixed HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n\
          GET /fixed HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(statuses(&unread), [200], "the body's bytes are not a request: {unread}");
    assert!(!unread.ends_with("<still open>"), "closed: {unread}");
    // A client that sends its whole upload (over three seconds) before it reads: the early
    // answer is still there when it does, not lost to a reset (nginx's lingering close).
    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.write_all(b"POST /fixed HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n").unwrap();
    let piece = vec![b'x'; 100_000];
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(&piece).expect("the body is read and dropped while it comes");
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    let read = s.read_to_string(&mut answer);
    assert!(read.is_ok() && statuses(&answer) == [200], "{read:?} {answer}");
}

/// An origin that sends more than its Content-Length says: the surplus is not read as
/// the start of the next response on that connection (nginx's "upstream sent more data
/// than specified"); the connection is dropped instead of pooled, and every request gets
/// the origin's answer (before, the second got the surplus as its head: a 502).
#[test]
fn an_origin_that_overruns_its_length_does_not_poison_the_pool() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Each request on the connection: five bytes promised, a stray head after them.
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 299 Surplus\r\n\r\n";
                    if s.write_all(answer).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let fc = Forecourt::start(&format!("{}[upstream.o.retry]\nattempts = 1\n", simple_to(upstream, "")));
    for i in 0..4 {
        let out = raw(fc.addr(), b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(3));
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("\r\n\r\nhello"), "request {i}: {out:?}");
    }
}

/// A burst of requests to an h2c upstream with no connection yet opens one connection,
/// which every request of the burst shares, not one each (what pacing does for HTTP/1.1).
#[tokio::test]
async fn a_burst_to_an_h2c_upstream_shares_one_new_connection() {
    let origin = Origin::slow("o", Duration::from_millis(100));
    let config = simple(&origin, "").replace("[upstream.o]", "[upstream.o]\nprotocol = \"h2c\"");
    let fc = Forecourt::start(&config);
    assert_eq!(burst(&fc, 50).await, [200; 50]);
    let opened = origin.connections.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(opened, 1, "connections the burst opened to the h2c upstream");
    // A server that refuses: the requests that waited for the failed opening try in turn,
    // each refused at once; none waits for the connect timeout.
    let dead = format!("127.0.0.1:{}", free_port());
    let fc = Forecourt::start(&config.replace(&origin.addr.to_string(), &dead));
    let started = std::time::Instant::now();
    assert_eq!(burst(&fc, 20).await, [502; 20]);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

/// The statuses of `n` requests sent at once, each on a client connection of its own, so
/// that they arrive together.
async fn burst(fc: &Forecourt, n: usize) -> Vec<u16> {
    burst_to(&fc.url(""), n).await
}

/// The same to `base` (a URL without its path).
pub(crate) async fn burst_to(base: &str, n: usize) -> Vec<u16> {
    let client = common::client();
    let requests: Vec<_> = (0..n)
        .map(|i| {
            let req = http::Request::get(format!("{base}/burst/{i}")).body(Default::default()).unwrap();
            let client = client.clone();
            tokio::spawn(async move { send(&client, req).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for request in requests {
        statuses.push(request.await.unwrap());
    }
    statuses
}
