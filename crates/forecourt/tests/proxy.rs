//! End-to-end: routing, header handling and failures, through the real binary to real origins.
use crate::common;

use common::cache_origin::CacheOrigin;
use common::origin::{raw_origin, Origin};
use common::*;
use std::time::Duration;

/// `forecourt proxy --cache --compress`: a cache and compression on every path, no file.
#[tokio::test]
async fn quick_proxy_caches_and_compresses_when_asked() {
    let origin = CacheOrigin::start();
    let port = free_port();
    let mut child = std::process::Command::new(BIN)
        .args(["proxy", "--from", &format!("127.0.0.1:{port}"), "--to", &format!("http://{}", origin.addr)])
        .args(["--workers", "1", "--cache", "--compress"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let path = "/quick?cc=max-age%3D600&ct=text%2Fhtml&size=5000";
    let url = format!("http://127.0.0.1:{port}{path}");
    let first = get_with(&url, &[("accept-encoding", "gzip")]).await;
    let second = get_with(&url, &[("accept-encoding", "gzip")]).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((first.status, first.header("content-encoding")), (200, "gzip"), "{:?}", first.headers);
    assert!(second.header("cache-status").starts_with("Forecourt; hit"), "{:?}", second.headers);
    assert_eq!((second.header("content-encoding"), origin.hits(path)), ("gzip", 1));
}

#[tokio::test]
async fn quick_proxy_spreads_across_servers() {
    let a = Origin::start("a");
    let b = Origin::start("b");
    let port = free_port();
    let mut child = std::process::Command::new(BIN)
        .args(["proxy", "--from", &format!("127.0.0.1:{port}"), "--to", &format!("http://{}", a.addr)])
        .args(["--to", &format!("http://{}", b.addr), "--workers", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    // Eight clients at once: the default balancer (peak EWMA × requests in flight) shares
    // them between two equally fast servers.
    let url = format!("http://127.0.0.1:{port}/slow?ms=20");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..5 {
                    let r = get(&url).await;
                    assert_eq!(r.status, 200);
                    seen.push(r.header("x-origin").to_string());
                }
                seen
            })
        })
        .collect();
    let mut seen = std::collections::BTreeMap::new();
    for t in tasks {
        for name in t.await.unwrap() {
            *seen.entry(name).or_insert(0) += 1;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.get("a").is_some_and(|&n| n >= 5) && seen.get("b").is_some_and(|&n| n >= 5), "{seen:?}");
}

const ROUTES: &str = r#"
[global]
admin = "off"
access_log = "{dir}/access.log"

[[listen]]
addr = "127.0.0.1:{port}"

[[route]]
name = "api"
hosts = ["example.com"]
path = "/api/"
strip_prefix = "/api"
upstream = "api"
request_headers = { set = { "X-Env" = "prod" }, add = { "X-Added" = "1" }, remove = ["X-Drop"] }
response_headers = { set = { "X-Served-By" = "forecourt" } }

[[route]]
name = "api-post-only"
hosts = ["example.com"]
path = "=/api/submit"
methods = ["POST"]
upstream = "web"

[[route]]
name = "canary"
hosts = ["*.example.com"]
headers = { "X-Canary" = "yes" }
upstream = "api"

[[route]]
name = "wild"
hosts = ["*.example.com"]
upstream = "web"

[[route]]
name = "old"
path = "/old/"
redirect = { to = "https://example.com{uri}", status = 301 }

[[route]]
name = "hello"
path = "=/hello"
respond = { status = 200, body = "hi there" }

[[route]]
name = "small-uploads"
path = "/upload"
max_body = "1k"
upstream = "web"

[upstream.api]
servers = ["API_ADDR"]

[upstream.web]
servers = ["WEB_ADDR"]
"#;

fn routes_config(api: &Origin, web: &Origin) -> String {
    ROUTES.replace("API_ADDR", &api.addr.to_string()).replace("WEB_ADDR", &web.addr.to_string())
}

#[tokio::test]
async fn routes_by_host_path_method_and_header() {
    let api = Origin::start("api");
    let web = Origin::start("web");
    let fc = Forecourt::start(&routes_config(&api, &web));
    let host = |h: &'static str| [("host", h)];

    let r = get_with(&fc.url("/api/users?id=7"), &host("example.com")).await;
    assert_eq!(r.header("x-origin"), "api");
    assert!(r.body.contains("uri=/users?id=7"), "prefix stripped, query kept: {}", r.body);
    assert_eq!(r.header("x-served-by"), "forecourt");

    // The exact POST-only route loses to the prefix for GET.
    let r = get_with(&fc.url("/api/submit"), &host("example.com")).await;
    assert_eq!(r.header("x-origin"), "api");
    let req =
        http::Request::post(fc.url("/api/submit")).header("host", "example.com").body(Default::default()).unwrap();
    assert_eq!(send(&client(), req).await.header("x-origin"), "web");

    let r = get_with(&fc.url("/"), &[("host", "a.example.com"), ("x-canary", "yes")]).await;
    assert_eq!(r.header("x-origin"), "api");
    let r = get_with(&fc.url("/"), &host("deep.b.example.com")).await;
    assert_eq!(r.header("x-origin"), "web");

    let r = get_with(&fc.url("/old/page?q=1"), &host("x.org")).await;
    assert_eq!((r.status, r.header("location")), (301, "https://example.com/old/page?q=1"));

    let r = get(&fc.url("/hello")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "hi there"));

    let r = get_with(&fc.url("/nothing"), &host("other.org")).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("request id: "), "{}", r.body);
    assert_eq!(r.header("x-request-id").len(), 28);
}

#[tokio::test]
async fn request_and_response_headers_are_cleaned_and_forwarded() {
    let api = Origin::start("api");
    let web = Origin::start("web");
    let fc = Forecourt::start(&routes_config(&api, &web));
    let r = get_with(
        &fc.url("/api/echo"),
        &[
            ("host", "example.com"),
            ("x-drop", "secret"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("forwarded", "for=6.6.6.6"),
            ("connection", "x-hop"),
            ("x-hop", "must not pass"),
            // A second line names headers as the first does (RFC 9110 §7.6.1).
            ("connection", "keep-alive, X-Hop-Two"),
            ("x-hop-two", "must not pass either"),
            ("proxy-authorization", "Basic Zm9vOmJhcg=="),
            ("x-request-id", "client-id-42"),
        ],
    )
    .await;
    let echo = r.body.to_lowercase();
    assert!(echo.contains("x-env: prod\n") && echo.contains("x-added: 1\n"), "{echo}");
    assert!(!echo.contains("x-drop") && !echo.contains("x-hop") && !echo.contains("proxy-authorization"), "{echo}");
    assert!(echo.contains("x-forwarded-for: 127.0.0.1\n"), "client's XFF replaced: {echo}");
    assert!(echo.contains("x-real-ip: 127.0.0.1\n"), "{echo}");
    assert!(echo.contains("x-forwarded-proto: http\n") && echo.contains("x-forwarded-host: example.com\n"), "{echo}");
    assert!(echo.contains("forwarded: for=127.0.0.1;proto=http;host=\"example.com\"\n"), "{echo}");
    assert!(echo.contains("x-request-id: client-id-42\n"), "{echo}");
    assert_eq!(r.header("x-request-id"), "client-id-42");
    // The backend stays hidden.
    assert!(r.headers.get("server").is_none() && r.headers.get("x-powered-by").is_none());

    // A client that sends no forwarding headers of its own gets the same ones (they take
    // another path: one block rendered per connection).
    for host in ["example.com", "example.com:8000"] {
        let echo = get_with(&fc.url("/api/echo"), &[("host", host)]).await.body.to_lowercase();
        assert!(echo.contains("x-forwarded-for: 127.0.0.1\n") && echo.contains("x-real-ip: 127.0.0.1\n"), "{echo}");
        assert!(echo.contains(&format!("x-forwarded-host: {host}\n")), "{echo}");
        assert!(echo.contains(&format!("forwarded: for=127.0.0.1;proto=http;host=\"{host}\"\n")), "{echo}");
        assert!(echo.contains("x-forwarded-proto: http\n") && echo.contains("x-request-id: "), "{echo}");
    }
}

#[tokio::test]
async fn trusted_proxies_are_appended_to() {
    let api = Origin::start("api");
    let config = format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\ntrusted_proxies = [\"127.0.0.0/8\"]\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"api\"\n[upstream.api]\nservers = [\"{}\"]\n",
        api.addr
    );
    let fc = Forecourt::start(&config);
    let r = get_with(&fc.url("/"), &[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "https")]).await;
    let echo = r.body.to_lowercase();
    assert!(echo.contains("x-forwarded-for: 203.0.113.9, 127.0.0.1\n"), "{echo}");
    assert!(echo.contains("x-forwarded-proto: https\n"), "{echo}");
    // A trusted peer that sends none of them (an internal client in the trusted range).
    let echo = get(&fc.url("/")).await.body.to_lowercase();
    for line in ["x-forwarded-for: 127.0.0.1\n", "x-real-ip: 127.0.0.1\n", "x-forwarded-proto: http\n"] {
        assert!(echo.contains(line) && echo.matches(line).count() == 1, "{line}: {echo}");
    }
    assert!(echo.contains("forwarded: for=127.0.0.1;proto=http;host=\"127.0.0.1:"), "{echo}");
}

#[tokio::test]
async fn failures_are_clear_and_never_name_the_backend() {
    let slow = Origin::start("slow");
    let dead_port = free_port();
    let (bad_framing, _) =
        raw_origin(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let config = format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[global.timeouts]\nupstream_header = \"300ms\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\npath = \"/dead\"\nupstream = \"dead\"\n\
         [[route]]\npath = \"/slow\"\nupstream = \"slow\"\n\
         [[route]]\npath = \"/framing\"\nupstream = \"framing\"\n\
         [upstream.dead]\nservers = [\"127.0.0.1:{dead_port}\"]\n\
         [upstream.slow]\nservers = [\"{}\"]\n\
         [upstream.framing]\nservers = [\"{bad_framing}\"]\n",
        slow.addr
    );
    let fc = Forecourt::start(&config);
    let r = get(&fc.url("/dead")).await;
    assert_eq!(r.status, 502);
    assert!(!r.body.contains(&dead_port.to_string()) && r.body.contains("request id: "), "{}", r.body);

    let started = std::time::Instant::now();
    let r = get(&fc.url("/slow?ms=3000")).await;
    assert_eq!(r.status, 504);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(!r.body.contains(&slow.addr.to_string()));

    let r = get(&fc.url("/framing")).await;
    assert_eq!(r.status, 502, "conflicting upstream framing is not passed on");
}

#[tokio::test]
async fn body_limits_answer_413() {
    let api = Origin::start("api");
    let web = Origin::start("web");
    let fc = Forecourt::start(&routes_config(&api, &web));
    let post = |body: Vec<u8>| http::Request::post(fc.url("/upload")).body(http_body_util::Full::from(body)).unwrap();
    assert_eq!(send(&client(), post(vec![b'x'; 512])).await.status, 200);
    assert_eq!(send(&client(), post(vec![b'x'; 4096])).await.status, 413);
    // Chunked, so the limit is only seen while streaming.
    let chunked = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n800\r\n{}\r\n0\r\n\r\n",
        "y".repeat(0x800)
    );
    assert_eq!(statuses(&raw(fc.addr(), chunked.as_bytes(), Duration::from_secs(5))), [413]);
}

#[tokio::test]
async fn access_log_has_one_json_line_per_request() {
    let api = Origin::start("api");
    let web = Origin::start("web");
    let fc = Forecourt::start(&routes_config(&api, &web));
    get_with(&fc.url("/api/logged?x=1"), &[("host", "example.com"), ("user-agent", "tester/1")]).await;
    let path = fc.dir.path("access.log");
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(&path).is_ok_and(|l| !l.is_empty())));
    let log = std::fs::read_to_string(&path).unwrap();
    let line = log.lines().last().unwrap();
    for part in [
        "\"client\":\"127.0.0.1\"",
        "\"method\":\"GET\"",
        "\"host\":\"example.com\"",
        "\"path\":\"/api/logged?x=1\"",
        "\"status\":200",
        "\"route\":\"api\"",
        "\"user_agent\":\"tester/1\"",
        "\"upstream_ms\":",
        "\"duration_ms\":",
        "\"request_id\":\"",
    ] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    assert!(line.contains(&format!("\"upstream\":\"{}\"", api.addr)), "{line}");
}

#[tokio::test]
async fn metrics_and_pool_reuse() {
    let api = Origin::start("api");
    let admin = free_port();
    let config = format!(
        "[global]\nworkers = 1\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nname = \"all\"\nupstream = \"api\"\n\
         [upstream.api]\nservers = [\"{}\"]\n",
        api.addr
    );
    let fc = Forecourt::start(&config);
    let c = client();
    for _ in 0..20 {
        let req = http::Request::get(fc.url("/")).body(Default::default()).unwrap();
        assert_eq!(send(&c, req).await.status, 200);
    }
    assert_eq!(get(&format!("http://127.0.0.1:{admin}/health")).await.status, 200);
    let text = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&text, "forecourt_requests_total{route=\"all\",class=\"2xx\"}"), 20.0);
    assert_eq!(metric(&text, "forecourt_request_duration_seconds_count"), 20.0);
    assert!(metric(&text, "forecourt_upstream_pool_reused_total") >= 18.0, "{text}");
    assert!(api.connections.load(std::sync::atomic::Ordering::SeqCst) <= 2, "upstream connections are pooled");
    assert!(metric(&text, "forecourt_active_connections") >= 0.0);
}

/// `hash` keeps each key on one server, across a reload too; `ip_hash` keeps a client on one.
#[tokio::test]
async fn hashing_keeps_keys_on_their_servers() {
    let origins = [Origin::start("a"), Origin::start("b"), Origin::start("c")];
    let servers = origins.iter().map(|o| format!("\"{}\"", o.addr)).collect::<Vec<_>>().join(", ");
    let config = |balance: &str| {
        format!(
            "[global]\nworkers = 2\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
             [[route]]\nupstream = \"o\"\n[upstream.o]\n{balance}\nservers = [{servers}]\n"
        )
    };
    let fc = Forecourt::start(&config("balance = \"hash\"\nkey = \"header:X-User\""));
    let server_of = |user: String| {
        let url = fc.url("/");
        async move { get_with(&url, &[("x-user", &user)]).await.header("x-origin").to_string() }
    };
    let mut first = Vec::new();
    for i in 0..30 {
        first.push(server_of(format!("user-{i}")).await);
    }
    let used: std::collections::BTreeSet<_> = first.iter().collect();
    assert!(used.len() >= 2, "keys spread over the servers: {first:?}");

    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reloaded:")), "{}", fc.stderr());
    for (i, before) in first.iter().enumerate() {
        assert_eq!(&server_of(format!("user-{i}")).await, before, "user-{i} moved after a reload");
    }

    fc.rewrite(&config("balance = \"ip_hash\""));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().matches("reloaded:").count() >= 2), "{}", fc.stderr());
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..10 {
        seen.insert(server_of(format!("user-{i}")).await);
    }
    assert_eq!(seen.len(), 1, "one client, one server: {seen:?}");
}

/// Answers Forecourt makes itself come from one catalogue: a page for browsers, JSON for
/// API clients, text otherwise, each with the request id; counted by reason in /metrics.
/// Behind a trusted proxy the client is the address it names, in the log and upstream.
#[tokio::test]
async fn local_answers_speak_the_clients_terms_and_the_client_is_the_one_a_trusted_proxy_names() {
    let api = Origin::start("api");
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"{{dir}}/access.log\"\ntrusted_proxies = [\"127.0.0.0/8\"]\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nhosts = [\"example.com\"]\nupstream = \"api\"\n\
         [upstream.api]\nservers = [\"{}\"]\n",
        api.addr
    ));
    let html = get_with(&fc.url("/"), &[("host", "nowhere.test"), ("accept", "text/html,*/*;q=0.8")]).await;
    assert_eq!(html.status, 404);
    assert!(html.header("content-type").starts_with("text/html"), "{}", html.header("content-type"));
    assert!(
        html.body.contains("<h1>404 Not Found</h1>") && html.body.contains(html.header("x-request-id")),
        "{}",
        html.body
    );
    let json = get_with(&fc.url("/"), &[("host", "nowhere.test"), ("accept", "application/json")]).await;
    assert!(json.body.contains("\"error\":\"no_route\""), "{}", json.body);
    let text = get_with(&fc.url("/"), &[("host", "nowhere.test")]).await;
    assert!(text.body.starts_with("404 Not Found\n") && text.body.contains("request id: "), "{}", text.body);
    let metrics = get(&format!("http://127.0.0.1:{admin}/metrics")).await.body;
    assert_eq!(metric(&metrics, "forecourt_local_responses_total{reason=\"no_route\"}"), 3.0);

    let r = get_with(&fc.url("/who"), &[("host", "example.com"), ("x-forwarded-for", "6.6.6.6, 203.0.113.9")]).await;
    assert!(r.body.to_lowercase().contains("x-real-ip: 203.0.113.9\n"), "{}", r.body);
    let path = fc.dir.path("access.log");
    assert!(eventually(Duration::from_secs(5), || std::fs::read_to_string(&path).is_ok_and(|l| l.contains("/who"))));
    let log = std::fs::read_to_string(&path).unwrap();
    let line = log.lines().find(|l| l.contains("\"path\":\"/who\"")).unwrap();
    assert!(line.contains("\"client\":\"203.0.113.9\""), "{line}");
}

/// `GET /api/routes` describes both chains as `forecourt explain` does: every filter, in
/// order, with its phases and parameters, the hidden built-ins included.
#[tokio::test]
async fn the_admin_api_describes_the_chains_as_explain_does() {
    let api = Origin::start("api");
    let admin = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n[global.limits]\nmax_body = \"1m\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nname = \"app\"\npath = \"/app/\"\nupstream = \"api\"\n\
         https_redirect = true\nhsts = \"max-age=60\"\nmirror = {{ upstream = \"api\", percent = 10 }}\n\
         [upstream.api]\nservers = [\"{}\"]\n",
        api.addr
    ));
    let routes: serde_json::Value =
        serde_json::from_str(&get(&format!("http://127.0.0.1:{admin}/api/routes")).await.body).unwrap();
    let labels = |chain: &serde_json::Value| -> Vec<String> {
        chain.as_array().unwrap().iter().map(|f| f["label"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(labels(&routes["front"]), ["uri_length", "acme_challenge"]);
    let app = &routes["routes"][0];
    assert_eq!(app["name"], "app");
    let filters = labels(&app["filters"]);
    assert_eq!(filters, ["hide_response_headers", "hsts", "https_redirect", "max_body(1m)", "mirror(api)"]);
    let mirror = &app["filters"][4];
    assert_eq!((&mirror["phases"][0], &mirror["params"]["percent"]), (&"upstream".into(), &"10".into()));
    assert_eq!(app["action"]["upstream"], "api");

    let out = std::process::Command::new(BIN)
        .args(["explain", "-c", &fc.config, "GET", "http://a.test/app/x"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("filters:  {}", filters.join(" -> "))), "{text}");
    assert!(text.contains("front:    uri_length -> acme_challenge"), "{text}");
    assert!(text.contains("max_body") && text.contains("max_bytes=1048576"), "{text}");
}

/// A request whose connect waits in a full accept queue (its SYN dropped: the kernel tries
/// again a second later, then three) takes the connection another request gives back
/// meanwhile, as a burst of new HTTP/2 streams does when the origin is slow to accept.
#[tokio::test]
async fn a_connect_held_by_a_full_accept_queue_yields_to_a_connection_given_back() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The server accepts one connection, answers each request on it 300 ms later, and
    // accepts no other: a backlog of 1 holds two connections, then drops SYNs.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = conn.read(&mut buf).await {
            head.extend_from_slice(&buf[..n]);
            while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                head.drain(..end + 4);
                tokio::time::sleep(Duration::from_millis(300)).await;
                conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await.unwrap();
            }
        }
        drop(listener);
    });
    let fc = Forecourt::start(&crate::protocol::simple_to(addr, ""));
    let url = fc.url("/first");
    let first = tokio::spawn(async move { get(&url).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued: Vec<_> = (0..2).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
    let started = std::time::Instant::now();
    let second = get(&fc.url("/second")).await;
    let waited = started.elapsed();
    assert_eq!((second.status, second.body.as_str()), (200, "ok"));
    assert!(waited < Duration::from_millis(900), "waited {waited:?} for a connect the kernel retries a second later");
    assert_eq!(first.await.unwrap().status, 200);
    drop(queued);
}
