//! End-to-end: TLS termination. Certificates come from a throwaway CA (rcgen); the
//! clients are Debian's curl, openssl s_client and h2load (nghttp2-client), so the
//! handshakes are spoken by implementations other than ours.
use crate::common;

use common::origin::Origin;
use common::pki::TestCa;
use common::tls_client::{curl, served, served_subject};
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A proxy with a TLS listener (`{port}`) whose `[tls]` body is `tls`, in front of `origin`.
fn tls_proxy(dir: &TempDir, tls: &str, origin: &Origin) -> Forecourt {
    let d = dir.0.to_string_lossy();
    Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n\
         [tls]\n{}\n[[route]]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        tls.replace("{certs}", &d),
        origin.addr
    ))
}

/// Writes a leaf for `names` as NAME.pem and NAME.key in `dir`; the `[[tls.certificates]]`
/// entry that loads it.
fn cert_entry(ca: &TestCa, dir: &TempDir, file: &str, names: &[&str], default: bool) -> String {
    let (cert, key) = ca.leaf(names);
    dir.file(&format!("{file}.pem"), &cert);
    dir.file(&format!("{file}.key"), &key);
    format!(
        "[[tls.certificates]]\ncert = \"{{certs}}/{file}.pem\"\nkey = \"{{certs}}/{file}.key\"\ndefault = {default}\n"
    )
}

#[test]
fn certificates_are_chosen_by_sni_and_both_http_versions_work() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-sni");
    let ca_file = dir.file("ca.pem", &ca.pem());
    let a = cert_entry(&ca, &dir, "a", &["a.test", "*.w.test"], false);
    let b = cert_entry(&ca, &dir, "b", &["b.test"], true);
    let fc = tls_proxy(&dir, &format!("{a}{b}"), &origin);

    for (name, version, flag) in [
        ("a.test", "1.1", "--http1.1"),
        ("a.test", "2", "--http2"),
        ("x.w.test", "2", "--http2"),
        ("b.test", "1.1", "--http1.1"),
    ] {
        let out = curl(&ca_file, name, fc.port, "/hello", &[flag]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name} {flag}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.ends_with(&format!("\n{version}")), "{name}: HTTP/{version} expected: {text}");
        assert!(text.contains("x-forwarded-proto: https\n"), "{text}");
        assert!(text.contains(&format!("host: {name}:{}\n", fc.port)), "{text}");
    }
    // Large bodies both ways, through rustls's bounded buffers and the socket's backpressure.
    let upload = dir.file("upload.bin", &"u".repeat(3_000_000));
    for flag in ["--http1.1", "--http2"] {
        let out =
            curl(&ca_file, "a.test", fc.port, "/big?n=5000000", &[flag, "-o", "/dev/null", "-w", " %{size_download}"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.ends_with(" 5000000"), "{flag} download: {text} {}", String::from_utf8_lossy(&out.stderr));
        let out = curl(&ca_file, "a.test", fc.port, "/upload", &[flag, "--data-binary", &format!("@{upload}")]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("received 3000000\n"), "{flag} upload: {text}");
    }

    // The certificate is picked by the name asked for: exact, wildcard, else the default.
    assert_eq!(served_subject(fc.port, "a.test").as_deref(), Some("subject=CN = a.test"));
    assert_eq!(served_subject(fc.port, "y.w.test").as_deref(), Some("subject=CN = a.test"));
    assert_eq!(served_subject(fc.port, "b.test").as_deref(), Some("subject=CN = b.test"));
    assert_eq!(served_subject(fc.port, "unknown.test").as_deref(), Some("subject=CN = b.test"));
    // A wildcard covers one label only.
    assert_eq!(served_subject(fc.port, "deep.x.w.test").as_deref(), Some("subject=CN = b.test"));

    // h2load speaks HTTP/2 over TLS (ALPN h2) with many streams.
    let out = Command::new("h2load")
        .args(["-n", "200", "-c", "4", "-m", "10", &format!("https://127.0.0.1:{}/", fc.port)])
        .output()
        .expect("h2load (apt-get install nghttp2-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("200 succeeded, 0 failed"), "{text}");
    assert!(text.contains("Application protocol: h2"), "{text}");
}

/// sslyze (from PyPI; `.ci/run` installs it) scans a default TLS listener and checks it
/// against Mozilla's intermediate profile: protocols, cipher suites, curves, the chain.
#[test]
fn a_default_listener_passes_sslyze_against_mozilla_intermediate() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-sslyze");
    let ca_file = dir.file("ca.pem", &ca.pem());
    // The default certificate answers the scanner's handshakes without SNI too.
    let fc = tls_proxy(&dir, &cert_entry(&ca, &dir, "a", &["a.test"], true), &origin);
    let out = Command::new("sslyze")
        .args(["--mozilla_config=intermediate", "--certinfo_ca_file", &ca_file])
        .arg(format!("a.test:{}{{127.0.0.1}}", fc.port))
        .output()
        .expect("sslyze (python3 -m pip install sslyze)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("a.test:{}: OK - Compliant.", fc.port)), "{text}");
    assert!(out.status.success(), "{text}");
}

#[test]
fn without_a_default_an_unknown_name_is_refused_and_the_listener_keeps_serving() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-nodefault");
    let ca_file = dir.file("ca.pem", &ca.pem());
    let fc = tls_proxy(&dir, &cert_entry(&ca, &dir, "a", &["a.test"], false), &origin);
    assert_eq!(served_subject(fc.port, "other.test"), None, "no certificate, no handshake");
    let out = curl(&ca_file, "other.test", fc.port, "/", &[]);
    assert_eq!(out.status.code(), Some(35), "curl: TLS handshake failed");
    let out = curl(&ca_file, "a.test", fc.port, "/", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// One request over `openssl s_client` that closes the connection, read to the end
/// (-ign_eof: a TLS 1.3 ticket comes after the handshake, and must arrive before s_client
/// leaves); `io` is -sess_out or -sess_in, for the session file `sess`.
fn s_client(port: u16, version: &str, io: &str, sess: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-ign_eof", "-connect", &format!("127.0.0.1:{port}"), "-servername", "a.test"])
        .args([version, io, sess])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n";
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), request).unwrap();
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
}

/// The `Session-ID:` line of `openssl s_client`'s output.
fn session_id(out: &str) -> Option<&str> {
    out.lines().find_map(|l| l.trim().strip_prefix("Session-ID:")).map(str::trim)
}

/// Runs `with` against `forecourt proxy --cert a.pem --key a.key` (files in `dir`) in
/// front of `origin`, with `extra` arguments; returns what `with` returned.
fn quick_proxy<T>(dir: &TempDir, origin: &Origin, extra: &[&str], with: impl FnOnce(u16) -> T) -> T {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args(["proxy", "--from", &format!("127.0.0.1:{port}"), "--to", &format!("http://{}", origin.addr)])
        .args(["--workers", "1", "--cert", &dir.path("a.pem"), "--key", &dir.path("a.key")])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let out = with(port);
    let _ = child.kill();
    let _ = child.wait();
    out
}

#[test]
fn sessions_resume_unless_turned_off_and_the_modern_policy_refuses_tls12() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-policy");
    let ca_file = dir.file("ca.pem", &ca.pem());
    let entry = cert_entry(&ca, &dir, "a", &["a.test"], true);
    let fc = tls_proxy(&dir, &entry, &origin);
    // TLS 1.2 is accepted by default (Mozilla intermediate) ...
    assert!(curl(&ca_file, "a.test", fc.port, "/", &["--tls-max", "1.2"]).status.success());
    // ... and a session resumes, for TLS 1.3 (tickets) and TLS 1.2 ...
    for version in ["-tls1_3", "-tls1_2"] {
        let sess = dir.path(&format!("session{version}"));
        let first = s_client(fc.port, version, "-sess_out", &sess);
        assert!(first.contains("New, TLS"), "{first}");
        // The server's order: AES-128-GCM, though OpenSSL asks for AES-256 first.
        assert!(first.contains("AES_128_GCM_SHA256") || first.contains("AES128-GCM-SHA256"), "{first}");
        let second = s_client(fc.port, version, "-sess_in", &sess);
        assert!(second.contains("Reused, TLS"), "{version}: {second}");
        let third = s_client(fc.port, version, "-sess_in", &sess);
        if version == "-tls1_2" {
            // ... TLS 1.2 by session ID, from the server's store: no ticket (one sealed
            // with a server key would undo forward secrecy), and the ID resumes again.
            assert!(!first.contains("TLS session ticket"), "{first}");
            assert!(session_id(&first).is_some_and(|id| !id.is_empty()), "{first}");
            assert_eq!(session_id(&first), session_id(&second));
            assert!(third.contains("Reused, TLS"), "{third}");
        } else {
            // ... TLS 1.3 by a ticket that names a stored session and is good once.
            assert!(first.contains("TLS session ticket"), "{first}");
            assert!(third.contains("New, TLS") && third.contains("200 OK"), "a ticket resumed twice: {third}");
        }
    }
    // ... also after a reload, which keeps the store.
    let fresh13 = dir.path("session-before-reload");
    assert!(s_client(fc.port, "-tls1_3", "-sess_out", &fresh13).contains("New, TLS"));
    std::fs::write(&fc.config, std::fs::read_to_string(&fc.config).unwrap() + "\n").unwrap();
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(10), || fc.stderr().contains("reloaded")), "{}", fc.stderr());
    for (version, sess) in [("-tls1_3", fresh13), ("-tls1_2", dir.path("session-tls1_2"))] {
        let after = s_client(fc.port, version, "-sess_in", &sess);
        assert!(after.contains("Reused, TLS"), "{version} after a reload: {after}");
    }
    // ... unless resumption is off: then no ticket nor session ID is given, and OpenSSL
    // has no session it could resume.
    let full = tls_proxy(&dir, &format!("session_resumption = false\n{entry}"), &origin);
    for version in ["-tls1_3", "-tls1_2"] {
        let sess = dir.path(&format!("full-session{version}"));
        let first = s_client(full.port, version, "-sess_out", &sess);
        assert!(first.contains("New, TLS") && first.contains("200 OK"), "{first}");
        assert!(!std::path::Path::new(&sess).exists(), "{version}: a resumable session was kept");
    }
    // The same from the command line, with and without the switch.
    for (switch, kept) in [(None, true), (Some("--no-session-resumption"), false)] {
        let sess = dir.path(&format!("quick-session-{kept}"));
        let first = quick_proxy(&dir, &origin, switch.as_slice(), |port| s_client(port, "-tls1_3", "-sess_out", &sess));
        assert!(first.contains("New, TLS") && first.contains("200 OK"), "{first}");
        assert_eq!(std::path::Path::new(&sess).exists(), kept, "{switch:?}");
    }

    let modern = tls_proxy(&dir, &format!("policy = \"modern\"\n{entry}"), &origin);
    assert!(!curl(&ca_file, "a.test", modern.port, "/", &["--tls-max", "1.2"]).status.success());
    assert!(curl(&ca_file, "a.test", modern.port, "/", &[]).status.success());
}

#[test]
fn session_tickets_carry_the_session_under_keys_that_rotate() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-tickets");
    let entry = cert_entry(&ca, &dir, "a", &["a.test"], true);
    let fc = tls_proxy(&dir, &format!("session_tickets = true\nticket_key_rotation = \"1s\"\n{entry}"), &origin);
    for version in ["-tls1_3", "-tls1_2"] {
        let sess = dir.path(&format!("session{version}"));
        let first = s_client(fc.port, version, "-sess_out", &sess);
        assert!(first.contains("New, TLS") && first.contains("TLS session ticket"), "{version}: {first}");
        // A ticket carries its session, so it resumes again and again (a stored
        // session's TLS 1.3 ticket resumes once).
        for _ in 0..2 {
            let again = s_client(fc.port, version, "-sess_in", &sess);
            assert!(again.contains("Reused, TLS") && again.contains("200 OK"), "{version}: {again}");
        }
    }
    // On a quiet server, the key that sealed a ticket is gone within two periods and a
    // few seconds (one second each here): the ticket no longer resumes, and its client
    // gets a full handshake instead. A fresh ticket still resumes.
    std::thread::sleep(Duration::from_secs(7));
    for version in ["-tls1_3", "-tls1_2"] {
        let old = s_client(fc.port, version, "-sess_in", &dir.path(&format!("session{version}")));
        assert!(old.contains("New, TLS") && old.contains("200 OK"), "{version}: an old key opened: {old}");
        let sess = dir.path(&format!("fresh{version}"));
        assert!(s_client(fc.port, version, "-sess_out", &sess).contains("New, TLS"));
        assert!(s_client(fc.port, version, "-sess_in", &sess).contains("Reused, TLS"), "{version}");
    }
    // The same from the command line: a TLS 1.3 ticket resumes twice.
    let sess = dir.path("quick-tickets");
    let resumed = quick_proxy(&dir, &origin, &["--session-tickets"], |port| {
        assert!(s_client(port, "-tls1_3", "-sess_out", &sess).contains("New, TLS"));
        [0, 1].map(|_| s_client(port, "-tls1_3", "-sess_in", &sess).contains("Reused, TLS"))
    });
    assert_eq!(resumed, [true, true]);
}

/// The protocol `openssl s_client` ends up with when it offers only `version`, or None
/// when the handshake fails.
fn negotiated(port: u16, version: &str) -> Option<String> {
    let out = s_client(port, version, "-sess_out", "/dev/null");
    let line = out.lines().find(|l| l.starts_with("New, TLS"))?;
    assert!(out.contains("200 OK"), "{out}");
    Some(line.split(',').nth(1)?.trim().to_string())
}

#[test]
fn protocols_narrow_the_versions_a_listener_offers() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-protocols");
    let entry = cert_entry(&ca, &dir, "a", &["a.test"], true);
    // nginx's spelling is understood too.
    for (protocols, tls12, tls13) in
        [("[\"1.2\"]", true, false), ("[\"TLSv1.3\"]", false, true), ("[\"1.2\", \"1.3\"]", true, true)]
    {
        let fc = tls_proxy(&dir, &format!("protocols = {protocols}\n{entry}"), &origin);
        assert_eq!(negotiated(fc.port, "-tls1_2").is_some(), tls12, "{protocols}");
        assert_eq!(negotiated(fc.port, "-tls1_3").is_some(), tls13, "{protocols}");
        // A client that offers both gets the newest one the listener has.
        let want = if tls13 { "TLSv1.3" } else { "TLSv1.2" };
        assert_eq!(negotiated(fc.port, "-no_ssl3").as_deref(), Some(want), "{protocols}");
    }
    // The same from the command line.
    let (tls12, tls13) = quick_proxy(&dir, &origin, &["--tls-protocols", "1.2"], |port| {
        (negotiated(port, "-tls1_2"), negotiated(port, "-tls1_3"))
    });
    assert_eq!((tls12.as_deref(), tls13), (Some("TLSv1.2"), None));
}

#[test]
fn plain_requests_go_to_https_hsts_rides_tls_and_other_sites_hosts_get_421() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-redirect");
    let ca_file = dir.file("ca.pem", &ca.pem());
    let certs = [
        cert_entry(&ca, &dir, "a", &["a.test"], true),
        cert_entry(&ca, &dir, "b", &["b.test"], false),
        cert_entry(&ca, &dir, "w", &["*.w.test"], false),
    ]
    .concat()
    .replace("{certs}", &dir.0.to_string_lossy());
    let plain = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n\
         [[listen]]\naddr = \"127.0.0.1:{plain}\"\n[tls]\n{certs}\n\
         [[route]]\nupstream = \"o\"\nhttps_redirect = true\nhsts = \"max-age=600\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    wait_for_port(plain);
    let http = |path: &str| {
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-D", "-", "-H", "Host: a.test"])
            .arg(format!("http://127.0.0.1:{plain}{path}"))
            .output()
            .unwrap()
    };
    let head = String::from_utf8_lossy(&http("/x?y=1").stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 308"), "{head}");
    assert!(head.contains(&format!("location: https://a.test:{}/x?y=1\r\n", fc.port)), "{head}");
    assert!(!head.contains("strict-transport-security"), "never over plain HTTP: {head}");
    // ACME HTTP-01 challenges stay on plain HTTP.
    let head = String::from_utf8_lossy(&http("/.well-known/acme-challenge/token").stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");

    let out = curl(&ca_file, "a.test", fc.port, "/", &["-D", "-"]);
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(text.contains("strict-transport-security: max-age=600\r\n"), "{text}");
    // A Host that the certificate of the connection does not cover: 421, for both HTTP
    // versions; one it covers (the same wildcard) is served.
    for flag in ["--http1.1", "--http2"] {
        let code = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", flag, "--cacert", &ca_file, "-H", "Host: b.test"])
            .args(["--resolve", &format!("a.test:{}:127.0.0.1", fc.port)])
            .arg(format!("https://a.test:{}/", fc.port))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&code.stdout), "421", "{flag}");
    }
    let code = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", &ca_file, "-H", "Host: y.w.test"])
        .args(["--resolve", &format!("x.w.test:{}:127.0.0.1", fc.port)])
        .arg(format!("https://x.w.test:{}/", fc.port))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&code.stdout), "200", "the wildcard covers both names");
}

/// A CA for client certificates, written to `clients.pem` in `dir`, and alice's
/// certificate from it (`alice.pem`, `alice.key`): the three files' paths.
fn client_ca_and_alice(dir: &TempDir) -> (String, String, String) {
    let clients = TestCa::new();
    let clients_file = dir.file("clients.pem", &clients.pem());
    let (cert, key) = clients.client("alice");
    let (alice_cert, alice_key) = (dir.file("alice.pem", &cert), dir.file("alice.key", &key));
    (clients_file, alice_cert, alice_key)
}

#[test]
fn client_certificates_are_required_or_optional_and_their_subject_goes_upstream() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-mtls");
    let ca_file = dir.file("ca.pem", &ca.pem());
    let (clients_file, alice_cert, alice_key) = client_ca_and_alice(&dir);
    let (cert, key) = TestCa::new().client("mallory");
    let (mallory_cert, mallory_key) = (dir.file("mallory.pem", &cert), dir.file("mallory.key", &key));
    let certs = cert_entry(&ca, &dir, "a", &["a.test"], true).replace("{certs}", &dir.0.to_string_lossy());
    let optional = free_port();
    let mtls = format!("client_ca = \"{clients_file}\"\nclient_cert_header = \"X-Client-Cert\"\n");
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n{mtls}\
         [[listen]]\naddr = \"127.0.0.1:{optional}\"\ntls = true\n{mtls}client_auth = \"optional\"\n\
         [tls]\n{certs}\n[[route]]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    wait_for_port(optional);
    let spoof = ["-H", "X-Client-Cert: CN=forged"];
    let with_alice = ["--cert", &alice_cert, "--key", &alice_key, spoof[0], spoof[1]];

    let out = curl(&ca_file, "a.test", fc.port, "/", &with_alice);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("x-client-cert: CN=alice\n") && !text.contains("forged"), "{text}");
    let out = curl(&ca_file, "a.test", fc.port, "/", &spoof);
    assert!(!out.status.success(), "no certificate, no service where one is required");
    let out = curl(&ca_file, "a.test", fc.port, "/", &["--cert", &mallory_cert, "--key", &mallory_key]);
    assert!(!out.status.success(), "a certificate from another CA is refused");

    let out = curl(&ca_file, "a.test", optional, "/", &spoof);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("x-client-cert"), "an anonymous client's claim is dropped: {text}");
    let out = curl(&ca_file, "a.test", optional, "/", &with_alice);
    assert!(String::from_utf8_lossy(&out.stdout).contains("x-client-cert: CN=alice\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_can_be_required_for_some_hosts_only() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-host-mtls");
    let ca_file = dir.file("ca.pem", &ca.pem());
    let (clients_file, alice_cert, alice_key) = client_ca_and_alice(&dir);
    // One certificate for both names: only the handshake tells the hosts apart.
    let certs =
        cert_entry(&ca, &dir, "both", &["a.test", "admin.test"], true).replace("{certs}", &dir.0.to_string_lossy());
    let plain = free_port();
    let fc = Forecourt::start(&format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n[[listen]]\naddr = \"127.0.0.1:{plain}\"\n\
         [tls]\n{certs}\n[[tls.client_certs]]\nhosts = [\"admin.test\"]\nca = \"{clients_file}\"\nheader = \"X-Client-Cert\"\n\
         [[route]]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    ));
    let spoof = ["-H", "X-Client-Cert: CN=forged"];
    let with_alice = ["--cert", &alice_cert, "--key", &alice_key, spoof[0], spoof[1]];

    let out = curl(&ca_file, "admin.test", fc.port, "/", &spoof);
    assert!(!out.status.success(), "admin.test requires a client certificate");
    let out = curl(&ca_file, "admin.test", fc.port, "/", &with_alice);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("x-client-cert: CN=alice\n") && !text.contains("forged"), "{text}");
    let out = curl(&ca_file, "a.test", fc.port, "/", &[]);
    assert!(out.status.success(), "a.test asks for none: {}", String::from_utf8_lossy(&out.stderr));
    for version in ["--http1.1", "--http2"] {
        // admin.test through a handshake for a.test (same certificate): refused.
        let out = curl(
            &ca_file,
            "a.test",
            fc.port,
            "/",
            &["-H", "Host: admin.test", version, "-o", "/dev/null", "-w", "%{http_code}"],
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("421"),
            "{version}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let reply = get_with(&format!("http://127.0.0.1:{plain}/"), &[("host", "admin.test")]).await;
    assert_eq!(reply.status, 403, "plain HTTP cannot carry a client certificate");
    assert_eq!(get_with(&format!("http://127.0.0.1:{plain}/"), &[("host", "a.test")]).await.status, 200);
}

/// The SHA-1 fingerprint line `openssl x509 -fingerprint` gives for a PEM file.
fn fingerprint(pem_file: &str) -> String {
    let out = Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-in", pem_file]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn changed_certificate_files_are_served_without_a_reload_and_broken_ones_are_refused() {
    let origin = Origin::start("o");
    let ca = TestCa::new();
    let dir = TempDir::new("tls-swap");
    let entry = cert_entry(&ca, &dir, "a", &["a.test"], true);
    let first = fingerprint(&dir.path("a.pem"));
    let fc = tls_proxy(&dir, &entry, &origin);
    assert_eq!(served(fc.port, "a.test", "-fingerprint"), Some(first.clone()));

    // Load over TLS while the files change under it: HTTP/2 streams on open connections
    // (h2load), and new connections, each with a full handshake (a curl process each).
    let load = Command::new("h2load")
        .args(["-D", "4", "-c", "8", "-m", "4", &format!("https://127.0.0.1:{}/", fc.port)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let ca_file = dir.file("ca.pem", &ca.pem());
    let port = fc.port;
    let handshakes = std::thread::spawn(move || {
        let (mut done, mut failures) = (0, Vec::new());
        let end = Instant::now() + Duration::from_secs(4);
        while Instant::now() < end {
            let out = curl(&ca_file, "a.test", port, "/", &[]);
            done += 1;
            if !out.status.success() {
                failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        (done, failures)
    });
    std::thread::sleep(Duration::from_millis(500));
    let (cert, key) = ca.leaf(&["a.test"]);
    std::fs::write(dir.path("a.pem"), cert).unwrap();
    std::fs::write(dir.path("a.key"), key).unwrap();
    let second = fingerprint(&dir.path("a.pem"));
    assert_ne!(first, second);
    assert!(
        eventually(Duration::from_secs(8), || served(fc.port, "a.test", "-fingerprint").as_ref() == Some(&second)),
        "the new certificate is served: {}",
        fc.stderr()
    );
    let out = load.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" 0 failed, 0 errored, 0 timeout"), "no request failed during the swap: {text}");
    let (done, failures) = handshakes.join().unwrap();
    assert!(done >= 10 && failures.is_empty(), "{} of {done} new connections failed: {failures:?}", failures.len());
    assert!(fc.stderr().contains("certificate files changed; new handshakes use them"), "{}", fc.stderr());

    // A broken certificate file is refused; the last good certificate keeps serving.
    std::fs::write(dir.path("a.pem"), "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n").unwrap();
    assert!(eventually(Duration::from_secs(8), || fc.stderr().contains("cannot be used")), "{}", fc.stderr());
    assert_eq!(served(fc.port, "a.test", "-fingerprint"), Some(second));
}

#[test]
fn check_points_at_unusable_certificates() {
    let ca = TestCa::new();
    let dir = TempDir::new("tls-check");
    let (cert, key) = ca.leaf(&["a.test"]);
    let (_, other_key) = ca.leaf(&["b.test"]);
    let (expired, expired_key) = ca.leaf_with(&["old.test"], |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    dir.file("a.pem", &cert);
    dir.file("a.key", &key);
    dir.file("other.key", &other_key);
    dir.file("old.pem", &expired);
    dir.file("old.key", &expired_key);
    let listen = "[[listen]]\naddr = \"127.0.0.1:8443\"\ntls = true\n\n";
    let route = "[[route]]\nrespond = { status = 200 }\n";
    // (name, config, where, what)
    let cases: &[(&str, String, &str, &str)] = &[
        (
            "mismatch",
            format!("{listen}[tls]\ncertificates = [{{ cert = \"a.pem\", key = \"other.key\" }}]\n{route}"),
            "mismatch.toml:6:17: ",
            "a.pem: the private key does not match the certificate",
        ),
        (
            "expired",
            format!("{listen}[tls]\ncertificates = [{{ cert = \"old.pem\", key = \"old.key\" }}]\n{route}"),
            "expired.toml:6:17: ",
            "old.pem: the certificate expired at 1609459200 (Unix time)",
        ),
        (
            "missing",
            format!("{listen}[tls]\ncertificates = [{{ cert = \"nope.pem\", key = \"a.key\" }}]\n{route}"),
            "missing.toml:6:17: ",
            "cannot read certificate file",
        ),
        (
            "no-table",
            format!("{listen}{route}"),
            "no-table.toml:3:7: ",
            "this listener has tls = true, but no certificate is configured or can be had automatically",
        ),
        (
            "client-ca-plain",
            format!("[[listen]]\naddr = \"127.0.0.1:8080\"\nclient_ca = \"a.pem\"\n\n{route}"),
            "client-ca-plain.toml:3:13: ",
            "client_ca needs tls = true on this listener",
        ),
        (
            "client-auth",
            format!(
                "{}\nclient_ca = \"a.pem\"\nclient_auth = \"maybe\"\n[tls]\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}",
                listen.trim_end()
            ),
            "client-auth.toml:5:15: ",
            "unknown client_auth `maybe`",
        ),
        (
            "client-certs-ca",
            format!(
                "{listen}[tls]\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n\
                 [[tls.client_certs]]\nhosts = [\"a.test\"]\nca = \"nope.pem\"\n{route}"
            ),
            "client-certs-ca.toml:9:6: ",
            "cannot read CA file",
        ),
        (
            "policy",
            format!(
                "{listen}[tls]\npolicy = \"old\"\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}"
            ),
            "policy.toml:6:10: ",
            "unknown TLS policy `old`",
        ),
        (
            "protocols-old",
            format!(
                "{listen}[tls]\nprotocols = [\"1.3\", \"1.1\"]\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}"
            ),
            "protocols-old.toml:6:21: ",
            "unknown TLS protocol `1.1`",
        ),
        (
            "protocols-modern",
            format!(
                "{listen}[tls]\npolicy = \"modern\"\nprotocols = [\"1.2\"]\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}"
            ),
            "protocols-modern.toml:7:14: ",
            "policy \"modern\" offers TLS 1.3 only",
        ),
        (
            "ticket-rotation-alone",
            format!(
                "{listen}[tls]\nticket_key_rotation = \"1h\"\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}"
            ),
            "ticket-rotation-alone.toml:6:23: ",
            "ticket_key_rotation needs session_tickets = true",
        ),
        (
            "ticket-rotation-long",
            format!(
                "{listen}[tls]\nsession_tickets = true\nticket_key_rotation = \"48h\"\n\
                 certificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}"
            ),
            "ticket-rotation-long.toml:7:23: ",
            "ticket_key_rotation must be between 1s and 24h",
        ),
        (
            "tickets-without-resumption",
            format!(
                "{listen}[tls]\nsession_resumption = false\nsession_tickets = true\n\
                 certificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}"
            ),
            "tickets-without-resumption.toml:7:19: ",
            "session_tickets = true needs session_resumption",
        ),
        (
            "protocols-empty",
            format!("{listen}[tls]\nprotocols = []\ncertificates = [{{ cert = \"a.pem\", key = \"a.key\" }}]\n{route}"),
            "protocols-empty.toml:6:13: ",
            "protocols is empty",
        ),
    ];
    for (name, text, at, what) in cases {
        let path = dir.file(&format!("{name}.toml"), text);
        let out = Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} passed check");
        assert!(stderr.contains(at) && stderr.contains(what), "{name}: {stderr}");
    }
}
