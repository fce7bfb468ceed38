//! An origin's interim responses (RFC 9110 §15.2: a proxy passes them on): `103 Early
//! Hints` reaches an HTTP/1.1 client as soon as the origin sends it, before the final
//! response and without this hop's fields; the connection carries on after it. An
//! HTTP/1.0 client gets none, and the origin's `100 Continue` (this hop's) is not passed.
use super::common::origin::raw_origin_paced;
use super::common::*;
use super::simple_to;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const HINTS: &[u8] =
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n";
const FINAL: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const PAUSE: Duration = Duration::from_millis(400);

/// Reads from `s` until `text` has arrived (or `wait` passes): what came, and when the
/// first bytes did.
fn read_until(s: &mut TcpStream, text: &str, wait: Duration) -> (String, Option<Duration>) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let (mut out, mut first) = (Vec::new(), None);
    let mut buf = [0u8; 4096];
    while start.elapsed() < wait && !String::from_utf8_lossy(&out).contains(text) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                first.get_or_insert(start.elapsed());
                out.extend_from_slice(&buf[..n]);
            }
            Err(_) => {}
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), first)
}

#[test]
fn early_hints_reach_an_http_1_1_client_before_the_final_response() {
    let (upstream, hits) = raw_origin_paced(vec![HINTS, FINAL], PAUSE);
    let fc = Forecourt::start(&simple_to(upstream, ""));
    let mut s = TcpStream::connect(fc.addr()).unwrap();
    for round in 0..2 {
        s.write_all(b"GET /page HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        let (hints, first) = read_until(&mut s, "\r\n\r\n", PAUSE);
        assert!(first.is_some_and(|t| t < PAUSE), "round {round}: the hints came at once: {first:?} {hints:?}");
        assert_eq!(hints, "HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n");
        let (rest, _) = read_until(&mut s, "\r\n\r\nok", Duration::from_secs(3));
        assert!(rest.starts_with("HTTP/1.1 200 OK\r\n") && rest.ends_with("\r\n\r\nok"), "round {round}: {rest:?}");
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);

    // HTTP/1.0: the final response only.
    let out = raw(fc.addr(), b"GET /page HTTP/1.0\r\nHost: a\r\n\r\n", Duration::from_secs(3));
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && !out.contains("103"), "{out:?}");
}

#[test]
fn an_origins_100_continue_is_not_passed_on() {
    let (upstream, _) = raw_origin_paced(vec![b"HTTP/1.1 100 Continue\r\n\r\n", FINAL], Duration::from_millis(50));
    let fc = Forecourt::start(&simple_to(upstream, ""));
    let out = raw(fc.addr(), b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", Duration::from_secs(3));
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n") && out.ends_with("ok"), "{out:?}");
}
