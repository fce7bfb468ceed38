//! A request refused before the pipeline (a malformed HTTP/1 head, a bad first chunk
//! size, an HTTP/2 `:path` past ASCII) is written to the access log like a served one,
//! as nginx logs its 400s: the status, what the client sent (escaped), the request id the
//! answer carried, and the rule that refused it.
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
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"o\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    let cases: [(&[u8], &str, &str, &str, &str); 3] = [
        (
            b"GET /caf\xc3\xa9?q=\"1\" HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET",
            "/caf\\xC3\\xA9?q=\\x221\\x22",
            "",
            "request target past ASCII",
        ),
        (b"GET /lf HTTP/1.1\nHost: a\r\n\r\n", "GET", "/lf", "", "bare LF"),
        (
            b"POST /upload HTTP/1.1\r\nHost: shop.example\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
            "POST",
            "/upload",
            "shop.example",
            "chunk size",
        ),
    ];
    let mut ids = Vec::new();
    for (bytes, ..) in &cases {
        let out = raw(fc.addr(), bytes, Duration::from_secs(3));
        assert_eq!(statuses(&out), [400], "{out}");
        ids.push(request_id(&out).to_string());
    }
    let r = send(&h2c_client(), http::Request::get(fc.url("/wiki/東京")).body(Default::default()).unwrap()).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let h2_id = r.headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(origin.hits(), 0, "a refused request reached the origin");

    assert!(eventually(Duration::from_secs(3), || log_lines(&fc).len() == 4), "{:?}", log_lines(&fc));
    let lines = log_lines(&fc);
    for (line, ((_, method, path, host, why), id)) in lines.iter().zip(cases.iter().zip(&ids)) {
        assert_eq!(line["status"], 400, "{line}");
        assert_eq!((line["method"].as_str(), line["path"].as_str()), (Some(*method), Some(*path)), "{line}");
        assert_eq!((line["host"].as_str(), line["refused"].as_str()), (Some(*host), Some(*why)), "{line}");
        assert_eq!(line["request_id"].as_str(), Some(id.as_str()), "{line}");
        assert_eq!(line["client"], "127.0.0.1", "{line}");
        assert!(line["bytes"].as_u64().unwrap() > 0, "{line}");
    }
    let h2 = &lines[3];
    assert_eq!((h2["status"].as_u64(), h2["protocol"].as_str()), (Some(400), Some("HTTP/2.0")), "{h2}");
    assert_eq!(h2["path"].as_str(), Some("/wiki/東京"), "{h2}");
    assert_eq!(h2["refused"].as_str(), Some("request target past ASCII"), "{h2}");
    assert_eq!(h2["request_id"].as_str(), Some(h2_id.as_str()), "{h2}");
}
