//! End-to-end: TLS to upstreams (`https://` servers). The backend is a second Forecourt
//! terminating TLS (with client certificates required) in front of the echo origin, so
//! the TLS it speaks is the one tests/tls.rs checks against curl, openssl and sslyze.
use crate::common;

use common::origin::Origin;
use common::pki::TestCa;
use common::*;

struct Backend {
    fc: Forecourt,
    ca_file: String,
    alice: (String, String),
    _origin: Origin,
    _dir: TempDir,
}

/// A TLS backend for `backend.test` that requires client certificates from its own CA
/// and passes the verified subject on in `X-Client-Cert`.
fn backend() -> Backend {
    let origin = Origin::start("o");
    let (ca, clients) = (TestCa::new(), TestCa::new());
    let dir = TempDir::new("upstream-tls");
    let ca_file = dir.file("ca.pem", &ca.pem());
    let clients_file = dir.file("clients.pem", &clients.pem());
    let (cert, key) = ca.leaf(&["backend.test"]);
    let (cert, key) = (dir.file("backend.pem", &cert), dir.file("backend.key", &key));
    let (a_cert, a_key) = clients.client("alice");
    let alice = (dir.file("alice.pem", &a_cert), dir.file("alice.key", &a_key));
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n\
         client_ca = \"{clients_file}\"\nclient_cert_header = \"X-Client-Cert\"\n\
         [tls]\ncertificates = [{{ cert = \"{cert}\", key = \"{key}\", default = true }}]\n\
         [[route]]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    Backend { fc, ca_file, alice, _origin: origin, _dir: dir }
}

/// A front proxy to the backend over https://, with these extra upstream keys.
fn front(backend: &Backend, keys: &str) -> Forecourt {
    Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nupstream = \"b\"\n[upstream.b]\nservers = [\"https://127.0.0.1:{}\"]\n{keys}\n",
        backend.fc.port
    ))
}

#[tokio::test]
async fn https_upstreams_are_verified_and_present_a_client_certificate() {
    let b = backend();
    let verified = format!(
        "tls_ca = \"{}\"\ntls_server_name = \"backend.test\"\ntls_client_cert = \"{}\"\ntls_client_key = \"{}\"\n",
        b.ca_file, b.alice.0, b.alice.1
    );
    for protocol in ["http1", "h2"] {
        let fc = front(&b, &format!("{verified}protocol = \"{protocol}\""));
        for path in ["/", "/again"] {
            let r = get(&fc.url(path)).await;
            assert_eq!(r.status, 200, "{protocol}: {}", r.body);
            assert!(r.body.contains("x-client-cert: CN=alice\n"), "{protocol}: the backend verified us: {}", r.body);
        }
        // A POST with a body takes the same TLS path.
        let req = http::Request::post(fc.url("/form")).body(vec![b'x'; 70_000].into()).unwrap();
        let r = send(&client(), req).await;
        assert!(r.body.contains("body-bytes=70000\n"), "{protocol}: {}", r.body);
    }

    // The certificate does not name the server: no exchange, a 502.
    let wrong = verified.replace("backend.test", "other.test");
    let fc = front(&b, &wrong);
    assert_eq!(get(&fc.url("/")).await.status, 502);
    assert!(fc.stderr().contains("TLS handshake with upstream failed"), "{}", fc.stderr());
    // Unless verification is turned off, by its explicit name, with a warning.
    let fc = front(&b, &format!("{wrong}tls_insecure_skip_verify = true"));
    assert_eq!(get(&fc.url("/")).await.status, 200);
    assert!(fc.stderr().contains("certificates are NOT verified"), "{}", fc.stderr());
    // Without a client certificate the backend refuses the handshake.
    let fc = front(&b, &format!("tls_ca = \"{}\"\ntls_server_name = \"backend.test\"", b.ca_file));
    assert_eq!(get(&fc.url("/")).await.status, 502);
}

#[tokio::test]
async fn https_servers_get_http_health_checks_over_tls() {
    let b = backend();
    let admin = free_port();
    let dead = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\n\
         [[route]]\nupstream = \"b\"\n[upstream.b]\nservers = [\"https://127.0.0.1:{}\", \"https://127.0.0.1:{dead}\"]\n\
         tls_ca = \"{}\"\ntls_server_name = \"backend.test\"\ntls_client_cert = \"{}\"\ntls_client_key = \"{}\"\n\
         [upstream.b.health]\npath = \"/healthz\"\ninterval = \"200ms\"\nfall = 1\nrise = 1\n\
         body = \"x-client-cert: CN=alice\"\n",
        b.fc.port, b.ca_file, b.alice.0, b.alice.1
    ));
    // The live server passes (the body proves the check went over our verified TLS, with
    // the client certificate); the dead one is taken out.
    let states = || async {
        let list: serde_json::Value =
            serde_json::from_str(&get(&format!("http://127.0.0.1:{admin}/api/upstreams")).await.body).unwrap();
        let servers = list["upstreams"][0]["servers"].as_array().cloned().unwrap_or_default();
        servers
            .iter()
            .map(|s| (s["state"].as_str().unwrap_or("").to_string(), s["last_check"].clone()))
            .collect::<Vec<_>>()
    };
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen = states().await;
        if seen.len() == 2 && seen[0].1["ok"] == true && seen[1].0 == "down" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen[0].0, "up", "{seen:?}");
    assert_eq!(seen[0].1["detail"], "status 200", "{seen:?}");
    assert_eq!(seen[1].0, "down", "{seen:?}\n{}", fc.stderr());
    for _ in 0..4 {
        assert_eq!(get(&fc.url("/")).await.status, 200, "only the live server is used");
    }
}

/// A burst to an `https://` server that is slow to handshake has as many handshakes in
/// progress as one worker may be opening at once (`pacing::MAX_CONNECTING`, 32), not one
/// per request, as for a plain server: the rest wait for a connection given back or a free
/// slot, within the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_to_an_https_server_opens_connections_paced() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // Accepts every connection and never answers its handshake.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    let fc = Forecourt::start(&format!(
        "[global]\nworkers = 1\nadmin = \"off\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\n[[route]]\nupstream = \"b\"\n\
         [upstream.b]\nservers = [\"https://{addr}\"]\nconnect_timeout = \"2s\"\n"
    ));
    let url = fc.url("/");
    let burst = tokio::spawn(async move { crate::protocol::burst_to(&url, 50).await });
    assert!(
        eventually(std::time::Duration::from_secs(1), || accepted.load(Ordering::SeqCst) >= 32),
        "{} connections",
        accepted.load(Ordering::SeqCst)
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(accepted.load(Ordering::SeqCst), 32, "handshakes in progress at once");
    let statuses = burst.await.unwrap();
    assert_eq!(statuses, [504; 50], "each waited within the connect timeout");
}
