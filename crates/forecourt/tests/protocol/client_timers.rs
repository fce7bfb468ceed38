//! Client timers and limits over HTTP/1 and HTTP/2: slow heads, idle keep-alive and
//! parked connections, header and body limits, minimum body rate, clients that stop
//! reading, idle h2c connections.
use super::common::origin::Origin;
use super::common::*;
use super::simple;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
fn slow_headers_and_idle_keepalive_are_closed() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, "[global.timeouts]\nclient_header = \"500ms\"\nkeepalive = \"800ms\""));
    // Slowloris: a head that never completes.
    let started = Instant::now();
    let out = raw(fc.addr(), b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ", Duration::from_secs(5));
    assert!(!out.ends_with("<still open>"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());

    // An idle keep-alive connection is closed after its timeout, not before.
    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
    let mut buf = [0u8; 4096];
    assert!(s.read(&mut buf).unwrap() > 0);
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(s.read(&mut buf).unwrap() > 0, "still open within the keep-alive time");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let idle = Instant::now();
    assert_eq!(s.read(&mut buf).unwrap(), 0, "closed when idle");
    let waited = idle.elapsed();
    assert!(waited > Duration::from_millis(600) && waited < Duration::from_secs(3), "{waited:?}");
}

/// A keep-alive connection idle long enough to be parked (its HTTP state freed) still
/// serves its next request, pipelined ones included.
#[test]
fn a_parked_connection_serves_its_next_requests() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, ""));
    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 65536];
    s.write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("uri=/first"));
    std::thread::sleep(Duration::from_millis(1200));
    s.write_all(b"GET /second HTTP/1.1\r\nHost: a\r\n\r\nGET /third HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(statuses(&out), [200, 200], "{out}");
    assert!(out.find("uri=/second").unwrap() < out.find("uri=/third").unwrap());
}

/// A parked connection (its own small task after 500 ms idle) keeps its place in the
/// listener's per-address count until the client closes it, lets go of it then, and a
/// drain closes it at once.
#[test]
fn a_parked_connection_holds_its_place_until_it_closes_and_a_drain_ends_it() {
    let origin = Origin::start("o");
    let config = simple(&origin, "").replace("[[route]]", "max_connections_per_ip = 1\n[[route]]");
    let mut fc = Forecourt::start(&config);
    // A served keep-alive connection, left idle past the park delay (None if refused: the
    // last connection's place, or the start-up probe's, may take a moment to be given back).
    let try_parked = |addr| {
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n").ok()?;
        let mut buf = vec![0u8; 65536];
        let n = s.read(&mut buf).ok()?;
        (statuses(&String::from_utf8_lossy(&buf[..n])) == [200]).then_some(())?;
        std::thread::sleep(Duration::from_millis(1200));
        Some(s)
    };
    // A refused connection is reset: the write or the read may fail.
    let ask = |addr| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = String::new();
        if s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").is_ok() {
            let _ = s.read_to_string(&mut out);
        }
        statuses(&out)
    };
    let parked = |addr| {
        (0..20)
            .find_map(|_| {
                try_parked(addr).or_else(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    None
                })
            })
            .expect("served")
    };
    let first = parked(fc.addr());
    assert_eq!(ask(fc.addr()), Vec::<u16>::new(), "one connection per address");
    drop(first);
    assert!(
        eventually(Duration::from_secs(2), || ask(fc.addr()) == [200]),
        "the parked connection's place is free once the client closed it"
    );
    let mut second = parked(fc.addr());
    let drained = Instant::now();
    fc.signal(libc::SIGTERM);
    let mut rest = Vec::new();
    second.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty() && drained.elapsed() < Duration::from_secs(2), "{:?}", drained.elapsed());
    assert_eq!(fc.wait_exit(Duration::from_secs(5)), Some(0));
}

/// Header bytes and count (431), URI length (414) and a stalled request body (408) are
/// answered, not forwarded or left hanging.
#[test]
fn client_limits_and_body_timeout() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(
        &origin,
        "[global.timeouts]\nclient_body = \"500ms\"\n[global.limits]\nmax_header_bytes = \"2k\"\nmax_headers = 10\nmax_uri_bytes = \"1k\"",
    ));
    let big_header = format!("GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n", "b".repeat(4096));
    assert_eq!(statuses(&raw(fc.addr(), big_header.as_bytes(), Duration::from_secs(3))), [431]);
    let many: String = (0..20).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
    assert_eq!(statuses(&raw(fc.addr(), many.as_bytes(), Duration::from_secs(3))), [431]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "u".repeat(1500));
    assert_eq!(statuses(&raw(fc.addr(), long_uri.as_bytes(), Duration::from_secs(3))), [414]);
    assert_eq!(origin.hits(), 0);

    let started = Instant::now();
    let stalled =
        raw(fc.addr(), b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", Duration::from_secs(5));
    assert_eq!(statuses(&stalled), [408], "{stalled}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A slow-body client that drips a byte at a time, each well within `client_body`, is cut
/// off once it falls under `min_body_rate` after the grace time (408), while a body at a
/// fair pace goes through.
#[test]
fn a_body_slower_than_the_minimum_rate_is_cut_off() {
    use std::io::{Read, Write};
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(
        &origin,
        "[global.timeouts]\nclient_body = \"5s\"\n[global.limits]\nmin_body_rate = \"100/s\"\nmin_body_rate_grace = \"1s\"",
    ));
    let mut s = std::net::TcpStream::connect(fc.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n").unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // One byte every 250 ms: 4 bytes a second against 100 required.
    while started.elapsed() < Duration::from_secs(4) {
        if s.write_all(b"x").is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let cut_after = started.elapsed();
    let text = String::from_utf8_lossy(&got).into_owned();
    assert_eq!(statuses(&text), [408], "{text}");
    assert!(cut_after > Duration::from_millis(900) && cut_after < Duration::from_millis(2500), "{cut_after:?}");
    // A fair pace (1,000 bytes in five 200-byte steps over a second) goes through.
    let mut s = std::net::TcpStream::connect(fc.addr()).unwrap();
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n").unwrap();
    for _ in 0..5 {
        s.write_all(&[b'y'; 200]).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut out = String::new();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.read_to_string(&mut out);
    assert_eq!(statuses(&out), [200], "{out}");
}

/// A client that stops reading its response is let go after `client_send` (nginx's
/// `send_timeout`), rather than holding the connection and the upstream exchange forever.
#[test]
fn a_client_that_stops_reading_is_let_go() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, "[global.timeouts]\nclient_send = \"500ms\""));
    let total: usize = 256 << 20;
    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.write_all(format!("GET /big?n={total} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes()).unwrap();
    // Read nothing while the socket buffers fill up and the timeout runs out.
    std::thread::sleep(Duration::from_secs(3));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut received = 0;
    let mut buf = vec![0u8; 1 << 16];
    let ended = loop {
        match s.read(&mut buf) {
            Ok(0) => break "closed",
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "reset",
            Err(e) => panic!("still open after {received} bytes: {e}"),
        }
    };
    assert!(received < total, "{ended} after {received} bytes: the whole body was sent anyway");
    assert!(started.elapsed() < Duration::from_secs(4), "{ended} after {:?}", started.elapsed());
}

/// An HTTP/2 connection with no stream open is closed gracefully (GOAWAY) after the
/// keep-alive time, as an idle HTTP/1 connection is; a stream outlasting it still ends well.
#[tokio::test]
async fn idle_h2c_connections_are_closed() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let origin = Origin::start("o");
    let fc = Forecourt::start(&simple(&origin, "[global.timeouts]\nkeepalive = \"500ms\""));
    let io = TokioIo::new(tokio::net::TcpStream::connect(fc.addr()).await.unwrap());
    let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await.unwrap();
    // The connection future ends when the server closes the connection.
    let closed = tokio::spawn(async move {
        let _ = conn.await;
        Instant::now()
    });
    let req = http::Request::get(fc.url("/slow?ms=1500")).body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap();
    let resp = sender.send_request(req).await.expect("a stream longer than the keep-alive time");
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert_eq!(&body[..], b"slow done");
    let idle_since = Instant::now();
    let closed_at = tokio::time::timeout(Duration::from_secs(5), closed).await.expect("closed when idle").unwrap();
    let idle = closed_at - idle_since;
    assert!(idle >= Duration::from_millis(400) && idle < Duration::from_secs(2), "closed after {idle:?} idle");
}

/// Sends `head` and `first`, waits, then `rest`: how many requests the origin had taken
/// before `rest` went, and the whole answer.
fn upload_in_two(fc: &Forecourt, origin: &Origin, head: &str, first: &[u8], rest: &[u8]) -> (usize, String) {
    let before = origin.hits();
    let mut s = TcpStream::connect(fc.addr()).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let taken = origin.hits() - before;
    s.write_all(rest).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    (taken, out)
}

/// A request body comes to the proxy before an upstream is asked (`request_buffer`): a
/// slow upload holds no origin connection until it is whole, then goes upstream with its
/// length, a chunked one included; a longer body, or any on a route with
/// `request_buffer = 0`, streams on as it comes.
#[test]
fn a_slow_upload_reaches_the_origin_only_once_it_is_buffered() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\npath = \"/streamed/\"\nupstream = \"o\"\nrequest_buffer = 0\n\
         [[route]]\npath = \"/default/\"\nupstream = \"o\"\n\
         [[route]]\nupstream = \"o\"\nrequest_buffer = \"1k\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    let sized = |path: &str, n: usize| {
        format!("POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n")
    };

    let (taken, out) = upload_in_two(&fc, &origin, &sized("/form", 10), b"hello", b"world");
    assert_eq!(taken, 0, "the origin heard nothing while the body came");
    assert!(out.contains("body-bytes=10\n") && out.contains("content-length: 10\n"), "{out}");

    // Forecourt says `100 Continue` itself; the origin, which gets the whole body, is not asked.
    let expecting = sized("/form", 10).replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    let (taken, out) = upload_in_two(&fc, &origin, &expecting, b"", b"helloworld");
    assert_eq!(taken, 0, "{out}");
    assert!(out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200"), "{out}");
    assert!(out.contains("body-bytes=10\n") && !out.contains("expect:"), "{out}");

    let chunked = "POST /form HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let (taken, out) = upload_in_two(&fc, &origin, chunked, b"5\r\nhello\r\n", b"5\r\nworld\r\n0\r\n\r\n");
    assert_eq!(taken, 0, "nor while a chunked one came");
    assert!(out.contains("body-bytes=10\n") && out.contains("content-length: 10\n"), "sent with its length: {out}");
    assert!(!out.contains("transfer-encoding"), "{out}");

    let (taken, out) = upload_in_two(&fc, &origin, &sized("/form", 3000), &[b'x'; 2000], &[b'y'; 1000]);
    assert_eq!(taken, 1, "past the buffer the body streams on");
    assert!(out.contains("body-bytes=3000\n"), "{out}");

    let (taken, out) = upload_in_two(&fc, &origin, &sized("/default/form", 40_000), &[b'x'; 20_000], &[b'y'; 20_000]);
    assert_eq!(taken, 0, "the default buffer holds 64 KiB");
    assert!(out.contains("body-bytes=40000\n"), "{out}");

    let (taken, out) = upload_in_two(&fc, &origin, &sized("/streamed/form", 10), b"hello", b"world");
    assert_eq!(taken, 1, "request_buffer = 0 streams at once");
    assert!(out.contains("body-bytes=10\n"), "{out}");
}
