//! End-to-end: response compression (`compress = true`) through the real binary, with
//! curl decoding each coding, and the cache storing the coded variant.
use crate::common;

use common::cache_origin::{page, CacheOrigin};
use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

fn start(origin: &CacheOrigin, route: &str) -> Forecourt {
    Forecourt::start(&format!(
        "[global]\nworkers = 2\nadmin = \"off\"\naccess_log = \"{{dir}}/access.log\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\n{route}\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ))
}

/// curl's output for `url` with `args`: (headers, body).
fn curl(url: &str, args: &[&str]) -> (String, Vec<u8>) {
    let dir = TempDir::new("curl");
    let headers = dir.path("headers");
    let out = std::process::Command::new("curl").args(["-s", "-D", &headers]).args(args).arg(url).output().unwrap();
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read_to_string(&headers).unwrap(), out.stdout)
}

/// Each coding curl asks for comes back coded, with Vary and a weakened ETag, and decodes
/// to the origin's bytes exactly; a client that asks for none gets the page as it is.
#[test]
fn each_coding_decodes_to_the_origins_bytes() {
    let origin = CacheOrigin::start();
    let fc = start(&origin, "compress = true");
    let path = "/page?ct=text/html%3B%20charset%3Dutf-8&size=102400&etag=%22p1%22";
    let expected = page(102_400).into_bytes();
    for coding in ["zstd", "br", "gzip"] {
        let (headers, body) = curl(&fc.url(path), &["--compressed", "-H", &format!("Accept-Encoding: {coding}")]);
        let h = headers.to_ascii_lowercase();
        assert!(h.contains(&format!("content-encoding: {coding}")), "{headers}");
        assert!(h.contains("vary: accept-encoding"), "{headers}");
        assert!(h.contains("etag: w/\"p1\""), "{headers}");
        assert!(!h.contains("content-length"), "{headers}");
        assert!(body == expected, "{coding}: {} bytes decoded, {} expected", body.len(), expected.len());
        let (_, raw) = curl(&fc.url(path), &["-H", &format!("Accept-Encoding: {coding}")]);
        assert!(raw.len() < expected.len() / 5, "{coding}: {} bytes on the wire", raw.len());
    }
    // A HEAD gets the head a GET would, and no body.
    let (h, body) = curl(&fc.url(path), &["-I", "-H", "Accept-Encoding: gzip"]);
    assert!(h.to_ascii_lowercase().contains("content-encoding: gzip"), "{h}");
    assert!(body.starts_with(b"HTTP/1.1 200") && body.ends_with(b"\r\n\r\n"), "{}", String::from_utf8_lossy(&body));
    // The server's preference on ties; q-values over it.
    let (h, _) = curl(&fc.url(path), &["-H", "Accept-Encoding: gzip, br, zstd"]);
    assert!(h.to_ascii_lowercase().contains("content-encoding: zstd"), "{h}");
    let (h, _) = curl(&fc.url(path), &["-H", "Accept-Encoding: gzip;q=1, br;q=0.5"]);
    assert!(h.to_ascii_lowercase().contains("content-encoding: gzip"), "{h}");
    let (h, body) = curl(&fc.url(path), &[]);
    assert!(!h.to_ascii_lowercase().contains("content-encoding"), "{h}");
    assert!(h.to_ascii_lowercase().contains("vary: accept-encoding"), "{h}");
    assert_eq!(body, expected);
    // Not compressed: small, not a text type, no-transform, already coded.
    for (p, why) in [
        ("/small?ct=text/html&size=500", "under min_size"),
        ("/png?ct=image/png&size=5000", "not compressible"),
        ("/nt?ct=text/html&size=5000&cc=no-transform", "no-transform"),
    ] {
        let (h, _) = curl(&fc.url(p), &["-H", "Accept-Encoding: gzip"]);
        assert!(!h.to_ascii_lowercase().contains("content-encoding"), "{why}: {h}");
    }
    let log = std::fs::read_to_string(fc.dir.path("access.log")).unwrap();
    assert!(log.contains("\"coding\":\"br\""), "{log}");
}

/// Server-sent events reach the client as they are written, coded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_flushed_as_they_come() {
    let origin = CacheOrigin::start();
    let fc = start(&origin, "compress = true");
    let url = fc.url("/events?ct=text/event-stream&events=3&gap_ms=700");
    let req = http::Request::get(url).header("accept-encoding", "gzip").body(Default::default()).unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let started = Instant::now();
    let mut body = resp.into_body();
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    decoder.write_all(&first).unwrap();
    decoder.flush().unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "the first event waited {:?}", started.elapsed());
    let text = String::from_utf8_lossy(decoder.get_ref()).into_owned();
    assert!(text.starts_with("data: event 0 "), "{text}");
    assert!(!text.contains("event 1"), "{text}");
}

/// With the cache in front, the coded variant is stored: a hit is not compressed again,
/// and each coding is its own variant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stores_the_coded_variant() {
    let origin = CacheOrigin::start();
    let fc = start(&origin, "cache = true\ncompress = true");
    let path = "/cached?ct=text/html&size=20000&cc=max-age%3D60";
    let mut bodies = Vec::new();
    for coding in ["br", "gzip", "br", "gzip"] {
        let r = get_with(&fc.url(path), &[("accept-encoding", coding)]).await;
        assert_eq!(r.header("content-encoding"), coding);
        bodies.push((r.header("cache-status").to_string(), r.body));
    }
    assert_eq!(origin.hits(path), 2, "one fetch per coding");
    assert!(bodies[2].0.contains("hit") && bodies[3].0.contains("hit"), "{bodies:?}");
    assert_eq!(bodies[0].1, bodies[2].1, "the hit is the stored coded bytes");
    assert_eq!(bodies[1].1, bodies[3].1);
    // A HEAD first: the cache asks a GET and stores what it gets, coded like a GET's, so
    // the GETs after it decode to the origin's bytes.
    let headed = "/headed?ct=text/html&size=20000&cc=max-age%3D60";
    let head = http::Request::head(fc.url(headed)).header("accept-encoding", "gzip");
    let head = send(&client(), head.body(Default::default()).unwrap()).await;
    assert_eq!((head.status, head.header("content-encoding")), (200, "gzip"), "{:?}", head.headers);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (headers, body) = curl(&fc.url(headed), &["--compressed", "-H", "Accept-Encoding: gzip"]);
    assert!(headers.to_ascii_lowercase().contains("cache-status: forecourt; hit"), "{headers}");
    assert!(body == page(20_000).into_bytes(), "{} bytes decoded", body.len());
    assert_eq!(origin.hits(headed), 1);
    // A range first: asked as the whole, which is coded (its length unknown before its
    // body), so the client gets the coded whole, not a part; later GETs decode right.
    let ranged = "/ranged?ct=text/html&size=20000&cc=max-age%3D60";
    let (headers, body) = curl(&fc.url(ranged), &["--compressed", "-H", "Accept-Encoding: gzip", "-r", "100-199"]);
    assert!(headers.starts_with("HTTP/1.1 200"), "{headers}");
    assert!(body == page(20_000).into_bytes(), "{} bytes decoded", body.len());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (headers, body) = curl(&fc.url(ranged), &["--compressed", "-H", "Accept-Encoding: gzip"]);
    assert!(headers.to_ascii_lowercase().contains("cache-status: forecourt; hit"), "{headers}");
    assert!(body == page(20_000).into_bytes(), "{} bytes decoded", body.len());
    assert_eq!(origin.hits(ranged), 1);
}

/// Bad compression options fail `forecourt check` with file:line:col.
#[test]
fn bad_compress_options_point_at_the_mistake() {
    let dir = TempDir::new("compress-check");
    let path = dir.file(
        "bad.toml",
        "[compress]\nlevels = { gzip = 12 }\n[[listen]]\naddr = \"127.0.0.1:1\"\n[[route]]\nupstream = \"o\"\n\
         compress = { codings = [\"lz4\"], min_size = \"1q\" }\n[upstream.o]\nservers = [\"127.0.0.1:2\"]\n",
    );
    let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("bad.toml:2:19: gzip level 12 is out of range (1..=9)"), "{text}");
    assert!(text.contains("bad.toml:7:25: unknown coding `lz4`"), "{text}");
    assert!(text.contains("bad.toml:7:44: bad size `1q`"), "{text}");
}
