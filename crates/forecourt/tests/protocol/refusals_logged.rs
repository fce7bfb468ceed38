//! A request refused before the pipeline (a malformed HTTP/1 head, a bad first chunk
//! size, an HTTP/2 `:path` past ASCII) is written to the access log like a served one,
//! as nginx logs its 400s: the status, what the client sent (escaped), the request id the
//! answer carried, and the rule that refused it; the client as a served request's line
//! names it (through `trusted_proxies` where the head was parsed).
use super::common::origin::Origin;
use super::common::*;
use std::time::Duration;

/// The access log's lines, as JSON documents.
fn log_lines(fc: &Forecourt) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fc.dir.path("access.log")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// The answer's request id, from raw HTTP/1 output.
fn request_id(raw: &str) -> &str {
    raw.lines().find_map(|l| l.strip_prefix("x-request-id: ")).unwrap_or_else(|| panic!("no id: {raw}")).trim()
}

#[tokio::test]
async fn refused_requests_reach_the_access_log_with_the_rule_that_refused_them() {
    let origin = Origin::start("o");
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"{{dir}}/access.log\"\n\
         trusted_proxies = [\"127.0.0.1\"]\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    // What was sent; the method, path, host, rule and client its line names (the client
    // through `X-Forwarded-For` only where the head was parsed).
    let cases: [(&[u8], [&str; 5]); 3] = [
        (
            b"GET /caf\xc3\xa9?q=\"1\" HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n",
            ["GET", "/caf\\xC3\\xA9?q=\\x221\\x22", "", "request target past ASCII", "127.0.0.1"],
        ),
        (b"GET /lf HTTP/1.1\nHost: a\r\n\r\n", ["GET", "/lf", "", "bare LF", "127.0.0.1"]),
        (
            b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 203.0.113.9\r\n\
              Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            ["POST", "/upload", "shop.example", "chunk size", "203.0.113.9"],
        ),
    ];
    let mut ids = Vec::new();
    for (bytes, _) in &cases {
        let out = raw(fc.addr(), bytes, Duration::from_secs(3));
        assert_eq!(statuses(&out), [400], "{out}");
        ids.push(request_id(&out).to_string());
    }
    let req = http::Request::get(fc.url("/wiki/東京")).header("x-forwarded-for", "203.0.113.9");
    let r = send(&h2c_client(), req.body(Default::default()).unwrap()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let h2_id = r.headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(origin.hits(), 0, "a refused request reached the origin");

    assert!(eventually(Duration::from_secs(3), || log_lines(&fc).len() == 4), "{:?}", log_lines(&fc));
    let lines = log_lines(&fc);
    for (line, ((_, expected), id)) in lines.iter().zip(cases.iter().zip(&ids)) {
        let said = ["method", "path", "host", "refused", "client"].map(|k| line[k].as_str().unwrap_or("?"));
        assert_eq!(&said, expected, "{line}");
        assert_eq!(line["status"], 400, "{line}");
        assert_eq!(line["request_id"].as_str(), Some(id.as_str()), "{line}");
        assert!(line["bytes"].as_u64().unwrap() > 0, "{line}");
    }
    let h2 = &lines[3];
    let said = ["protocol", "path", "refused", "client"].map(|k| h2[k].as_str().unwrap_or("?"));
    assert_eq!(said, ["HTTP/2.0", "/wiki/東京", "request target past ASCII", "203.0.113.9"], "{h2}");
    assert_eq!((h2["status"].as_u64(), h2["request_id"].as_str()), (Some(400), Some(h2_id.as_str())), "{h2}");
}

/// A head begun and never finished is logged as nginx logs it (checked against nginx
/// 1.22): a 408 when the header timeout ran out (slowloris), a 400 when the client closed
/// first, 0 bytes, as much of the request line as came; nothing is sent to the client. A
/// connection that sent nothing, or closed between requests (after an empty line too),
/// writes no line.
#[tokio::test]
async fn heads_begun_and_never_finished_are_logged_as_nginx_logs_them() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let origin = Origin::start("o");
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"{{dir}}/access.log\"\n\
         [global.timeouts]\nclient_header = \"600ms\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    wait_for_port(admin);
    let connect = || TcpStream::connect(fc.addr()).unwrap();
    let slow = std::thread::spawn({
        let mut s = connect();
        move || {
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: ").unwrap();
            let mut got = Vec::new();
            let _ = s.read_to_end(&mut got);
            got
        }
    });
    let mut half_line = connect();
    half_line.write_all(b"GET /par").unwrap();
    let mut closed = connect();
    closed.write_all(b"GET /closed HTTP/1.1\r\nHost: a\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(closed);
    drop(connect()); // sent nothing
                     // A keep-alive connection: one request served, then half of the next, then gone.
    let mut kept = connect();
    kept.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut buf = [0u8; 4096];
    assert!(kept.read(&mut buf).unwrap() > 0);
    kept.write_all(b"GET /two HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(kept);
    // Another: a request, then the empty line some clients send after a body, then gone.
    let mut blank = connect();
    blank.write_all(b"GET /three HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(blank.read(&mut buf).unwrap() > 0);
    blank.write_all(b"\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(blank);
    assert_eq!(slow.join().unwrap(), b"", "a slow head is closed without an answer, as nginx does");

    let want = [
        ("/closed", "GET", 400, "head cut short"),
        ("/one", "GET", 200, ""),
        ("/two", "GET", 400, "head cut short"),
        ("/three", "GET", 200, ""),
    ];
    assert!(eventually(Duration::from_secs(3), || log_lines(&fc).len() == 6), "{:?}", log_lines(&fc));
    let lines = log_lines(&fc);
    let said = |line: &serde_json::Value| {
        let text = |k: &str| line[k].as_str().unwrap_or("").to_string();
        (text("path"), text("method"), line["status"].as_u64().unwrap(), text("refused"))
    };
    let mut seen: Vec<_> = lines.iter().map(said).collect();
    seen.sort();
    let mut expected: Vec<_> =
        want.iter().map(|(p, m, s, r)| (p.to_string(), m.to_string(), *s, r.to_string())).collect();
    // The half request line is logged whole as the method, as nginx's `$request` shows it.
    expected.push((String::new(), "GET /par".into(), 408, "head too slow".into()));
    expected.push(("/slow".into(), "GET".into(), 408, "head too slow".into()));
    expected.sort();
    assert_eq!(seen, expected, "{lines:?}");
    for line in lines.iter().filter(|l| l["status"] != 200) {
        assert_eq!(line["bytes"], 0, "{line}");
        assert!(line["request_id"].as_str().is_some_and(|id| !id.is_empty()), "{line}");
    }
    let slow_line = lines.iter().find(|l| l["path"] == "/slow").unwrap();
    assert!(slow_line["duration_ms"].as_f64().unwrap_or(0.0) >= 500.0, "waited the header timeout: {slow_line}");
    drop(half_line);
    let text = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&text, "forecourt_http1_heads_abandoned_total{reason=\"timeout\"}"), 2.0, "{text}");
    assert_eq!(metric(&text, "forecourt_http1_heads_abandoned_total{reason=\"closed\"}"), 2.0, "{text}");
    assert_eq!(origin.hits(), 2, "only the whole requests reached the origin");
}
