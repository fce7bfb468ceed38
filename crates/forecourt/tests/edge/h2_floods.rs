//! HTTP/2 abuse cut off per connection, from frames written by hand as an attacker's tool
//! writes them: a wrong preface, rapid reset, a CONTINUATION flood and empty DATA frames
//! get a GOAWAY (counted by reason in `/metrics`); PING and SETTINGS floods from a client
//! that never reads are held by back-pressure while a calm client is served at once.
use super::common::origin::Origin;
use super::common::*;
use super::{config, get_from};
use std::time::{Duration, Instant};

/// An HTTP/2 frame: length, type, flags, stream, payload.
pub(super) fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The error code of the GOAWAY among `bytes` (frames as a server sends them), if any.
pub(super) fn goaway_code(bytes: &[u8]) -> Option<u32> {
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        let payload = rest.get(9..9 + len)?;
        if rest[3] == 7 && len >= 8 {
            return Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
        }
        rest = &rest[9 + len..];
    }
    None
}

/// What an h2c connection from `local` that sends `data` gets back until it is closed
/// (its bytes past the server's preface frames).
pub(super) async fn h2_flood(local: &str, addr: std::net::SocketAddr, data: Vec<u8>) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&data).await;
        write // kept open: the server is the one to close
    });
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), read.read_to_end(&mut out)).await;
    drop(writer);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_floods_are_cut_off_per_connection_and_counted() {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    // :method GET, :scheme http, :path /, :authority a (literal, not indexed).
    const GET: &[u8] = &[0x82, 0x86, 0x84, 0x01, 0x01, b'a'];
    const POST: &[u8] = &[0x83, 0x86, 0x84, 0x01, 0x01, b'a'];
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = Forecourt::start(&config(&origin, admin, "", "", ""));
    let start = |extra: &[u8]| [PREFACE, &frame(4, 0, 0, &[]), extra].concat();
    // A wrong preface after "PRI * HTTP/2.0": a GOAWAY, PROTOCOL_ERROR, and the close.
    let bad = h2_flood("127.0.0.2", fc.addr(), b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n".to_vec()).await;
    assert_eq!(bad, [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    // Rapid reset: streams opened and cancelled at once, a thousand of them.
    let mut reset = Vec::new();
    for id in (1..2000u32).step_by(2) {
        reset.extend(frame(1, 0x5, id, GET));
        reset.extend(frame(3, 0, id, &8u32.to_be_bytes()));
    }
    let reply = h2_flood("127.0.0.3", fc.addr(), start(&reset)).await;
    assert_eq!(goaway_code(&reply), Some(11), "ENHANCE_YOUR_CALM");
    // CONTINUATION flood: a header value of 10,128 bytes (a literal, its length in HPACK's
    // integer form), one byte per CONTINUATION frame.
    let mut continuation = frame(1, 0, 1, &[GET, &[0x00, 0x01, b'x', 0x7f, 0x91, 0x4e]].concat());
    for _ in 0..10_000 {
        continuation.extend(frame(9, 0, 1, b"a"));
    }
    let reply = h2_flood("127.0.0.4", fc.addr(), start(&continuation)).await;
    assert_eq!(goaway_code(&reply), Some(11), "{}", String::from_utf8_lossy(&reply));
    // Empty DATA frames on an open request.
    let mut empty = frame(1, 0x4, 1, POST);
    for _ in 0..10_000 {
        empty.extend(frame(0, 0, 1, &[]));
    }
    let reply = h2_flood("127.0.0.5", fc.addr(), start(&empty)).await;
    assert_eq!(goaway_code(&reply), Some(11));
    // PING and SETTINGS floods from a client that never reads: held by back-pressure while
    // another client is served at once.
    let mut pings = Vec::new();
    for i in 0..200_000u64 {
        pings.extend(frame(6, 0, 0, &i.to_be_bytes()));
        pings.extend(frame(4, 0, 0, &[]));
    }
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.6:0".parse().unwrap()).unwrap();
    let mut flooder = socket.connect(fc.addr()).await.unwrap();
    let flood = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = tokio::time::timeout(Duration::from_secs(3), flooder.write_all(&start(&pings))).await;
        flooder
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let calm = client_from("127.0.0.7");
    for _ in 0..5 {
        let asked = Instant::now();
        assert_eq!(get_from(&calm, &fc.url("/calm")).await.status, 200);
        assert!(asked.elapsed() < Duration::from_millis(500), "{:?}", asked.elapsed());
    }
    drop(flood.await);
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    for (reason, count) in [("bad_preface", 1.0), ("flood", 3.0)] {
        let series = format!("forecourt_h2_connections_closed_total{{reason=\"{reason}\"}}");
        assert_eq!(metric(&metrics, &series), count, "{series}\n{metrics}");
    }
}
