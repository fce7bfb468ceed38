//! End-to-end: automatic certificates. A real ACME server (Debian's Pebble, its DNS
//! answering 127.0.0.1 for every name) validates the proxy over HTTP-01 on its plain
//! listener and over TLS-ALPN-01 on its TLS listener; curl then verifies what is served
//! against Pebble's root. Renewal information (RFC 9773), which Debian's Pebble lacks,
//! comes from a small server beside it (`common/renewal_info.rs`).
use crate::common;

use common::origin::Origin;
use common::pebble::{Pebble, PebbleOptions};
use common::renewal_info::{RenewalInfo, LATER};
use common::tls_client::{curl, served, served_subject};
use common::*;
use std::time::Duration;

const NAMES: [&str; 2] = ["a.example.com", "b.example.com"];

/// A proxy with a plain listener on `plain`, a TLS listener on `{port}`, routes for
/// `NAMES`, and `[acme]` pointed at `pebble` with `acme` added to the table.
fn acme_config(pebble: &Pebble, plain: u16, admin: u16, origin: &Origin, acme: &str) -> String {
    acme_config_at(&pebble.directory, pebble, plain, admin, origin, acme)
}

/// `acme_config` with the directory at `directory` (Pebble's, behind another server).
fn acme_config_at(directory: &str, pebble: &Pebble, plain: u16, admin: u16, origin: &Origin, acme: &str) -> String {
    format!(
        "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{plain}\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n\
         [tls]\nstorage = \"{{dir}}/storage\"\n\
         [acme]\ndirectory = \"{}\"\nca_bundle = \"{}\"\nemail = \"ops@example.com\"\n{acme}\n\
         [[route]]\nhosts = [\"{}\"]\nupstream = \"o\"\n[[route]]\nhosts = [\"{}\"]\nupstream = \"o\"\n\
         [upstream.o]\nservers = [\"{}\"]\n",
        directory, pebble.ca_file, NAMES[0], NAMES[1], origin.addr
    )
}

async fn admin_text(admin: u16, path: &str) -> String {
    get(&format!("http://127.0.0.1:{admin}{path}")).await.body
}

/// `GET /api/certificates`, or `None` while the admin listener is not up yet (a restart).
async fn certificate_status(admin: u16) -> Option<serde_json::Value> {
    let req = http::Request::get(format!("http://127.0.0.1:{admin}/api/certificates")).body(Default::default()).ok()?;
    let resp = client().request(req).await.ok()?;
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.ok()?.to_bytes();
    serde_json::from_slice(&body).ok()
}

/// Waits until every name in `names` is served an issued (not temporary) certificate.
async fn issued(admin: u16, names: &[&str], within: Duration) -> bool {
    let end = std::time::Instant::now() + within;
    while std::time::Instant::now() < end {
        let status = certificate_status(admin).await.unwrap_or_default();
        if names.iter().all(|n| status[n]["temporary"] == false && status[n]["serial"].is_string()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn metrics(admin: u16) -> String {
    admin_text(admin, "/metrics").await
}

/// The serial number of the certificate served for `name`.
fn serial(port: u16, name: &str) -> String {
    served(port, name, "-serial").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_get_certificates_over_http01_and_tls_alpn01_keep_them_across_restarts_and_renew() {
    let origin = Origin::start("o");
    let (plain, tls_port, admin) = (free_port(), free_port(), free_port());
    let pebble = Pebble::start(PebbleOptions { http_port: plain, tls_port, validity_secs: None, eab: None });
    let http01 = acme_config(&pebble, plain, admin, &origin, "challenges = [\"http-01\"]");
    let mut fc = Forecourt::start_on(tls_port, &http01);

    // Both names get certificates over HTTP-01, which curl verifies against Pebble's root.
    assert!(issued(admin, &NAMES, Duration::from_secs(60)).await, "not issued:\n{}", fc.stderr());
    let root = fc.dir.file("pebble-root.pem", &pebble.root_pem());
    for name in NAMES {
        let out = curl(&root, name, tls_port, "/", &[]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("o"), "{name} reached the origin");
    }
    let m = metrics(admin).await;
    assert!(metric(&m, "forecourt_acme_challenges_answered_total{type=\"http-01\"}") >= 2.0, "{m}");
    assert_eq!(metric(&m, "forecourt_certificate_issuances_total{result=\"ok\"}"), 2.0);
    assert_eq!(metric(&m, "forecourt_certificate_temporary{name=\"a.example.com\"}"), 0.0);

    // Stored privately, and reused after a restart without a new order.
    let storage = fc.dir.0.join("storage");
    for file in walk(&storage) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    let serials: Vec<String> = NAMES.iter().map(|n| serial(tls_port, n)).collect();
    assert!(serials.iter().all(|s| s.starts_with("serial=")), "{serials:?}");
    fc.restart();
    assert!(issued(admin, &NAMES, Duration::from_secs(10)).await, "{}", fc.stderr());
    assert_eq!(NAMES.iter().map(|n| serial(tls_port, n)).collect::<Vec<_>>(), serials);
    let m = metrics(admin).await;
    assert_eq!(metric(&m, "forecourt_certificate_issuances_total{result=\"ok\"}"), 0.0, "no new order");
    assert!(fc.stderr().contains("using the stored certificate"), "{}", fc.stderr());

    // Over TLS-ALPN-01: a reload changes the challenge (the certificates stay), then a
    // forced renewal of one name orders anew while the old certificate keeps serving.
    fc.rewrite(&acme_config(&pebble, plain, admin, &origin, "challenges = [\"tls-alpn-01\"]"));
    fc.signal(libc::SIGHUP);
    assert!(eventually(Duration::from_secs(5), || fc.stderr().contains("reloaded")), "{}", fc.stderr());
    let renew = reqwest_post(admin, "/api/certificates/a.example.com/renew").await;
    assert_eq!(renew, 202);
    let renewed = eventually(Duration::from_secs(60), || serial(tls_port, NAMES[0]) != serials[0]);
    assert!(renewed, "no new certificate for a:\n{}", fc.stderr());
    assert_eq!(serial(tls_port, NAMES[1]), serials[1], "b keeps its certificate");
    // And b too: both names have now been validated over TLS-ALPN-01.
    assert_eq!(reqwest_post(admin, "/api/certificates/b.example.com/renew").await, 202);
    let renewed = eventually(Duration::from_secs(60), || serial(tls_port, NAMES[1]) != serials[1]);
    assert!(renewed, "no new certificate for b:\n{}", fc.stderr());
    let m = metrics(admin).await;
    assert!(metric(&m, "forecourt_acme_challenges_answered_total{type=\"tls-alpn-01\"}") >= 2.0, "{m}");
    assert_eq!(metric(&m, "forecourt_acme_challenges_answered_total{type=\"http-01\"}"), 0.0, "{m}");
    assert_eq!(metric(&m, "forecourt_certificate_issuances_total{result=\"ok\"}"), 2.0);
    for name in NAMES {
        let out = curl(&root, name, tls_port, "/", &[]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = curl(&root, NAMES[0], tls_port, "/", &["--http2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).ends_with("\n2"), "HTTP/2 over the issued certificate");
    assert_eq!(reqwest_post(admin, "/api/certificates/unknown.example.com/renew").await, 404);
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

async fn reqwest_post(admin: u16, path: &str) -> u16 {
    let req = http::Request::post(format!("http://127.0.0.1:{admin}{path}")).body(Default::default()).unwrap();
    send(&client(), req).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_renew_two_thirds_into_their_lifetime_with_an_external_account() {
    let origin = Origin::start("o");
    let (plain, tls_port, admin) = (free_port(), free_port(), free_port());
    // Certificates that live 30 s are renewed about 20 s after they start.
    let eab = ("kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W");
    let pebble = Pebble::start(PebbleOptions { http_port: plain, tls_port, validity_secs: Some(30), eab: Some(eab) });
    let account = format!("eab_kid = \"{}\"\neab_hmac_key = \"{}\"", eab.0, eab.1);
    let fc = Forecourt::start_on(tls_port, &acme_config(&pebble, plain, admin, &origin, &account));
    assert!(issued(admin, &NAMES, Duration::from_secs(60)).await, "not issued:\n{}", fc.stderr());
    let first = serial(tls_port, NAMES[0]);
    let renewed = eventually(Duration::from_secs(40), || {
        let now = serial(tls_port, NAMES[0]);
        now.starts_with("serial=") && now != first
    });
    assert!(renewed, "not renewed:\n{}", fc.stderr());
    let m = metrics(admin).await;
    assert!(metric(&m, "forecourt_certificate_issuances_total{result=\"ok\"}") >= 3.0, "{m}");
    assert_eq!(metric(&m, "forecourt_certificate_issuances_total{result=\"error\"}"), 0.0, "{m}");
}

/// The RFC 9773 identifier of the certificate served for `name`: its authority key
/// identifier and its serial number's DER bytes, each base64url, joined by a dot.
fn certificate_id(port: u16, name: &str) -> String {
    let aki = served(port, name, "-ext authorityKeyIdentifier").unwrap_or_default();
    let aki = aki.lines().last().unwrap_or_default().trim().trim_start_matches("keyid:").replace(':', "");
    let serial = serial(port, name).trim_start_matches("serial=").to_string();
    let mut serial = hex_bytes(&serial);
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        serial.insert(0, 0); // a DER INTEGER stays positive
    }
    format!("{}.{}", base64url(&hex_bytes(&aki)), base64url(&serial))
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    let hex = if hex.len() % 2 == 1 { format!("0{hex}") } else { hex.to_string() };
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_follows_the_window_the_ca_suggests_and_asks_again_when_told() {
    let origin = Origin::start("o");
    let (plain, tls_port, admin) = (free_port(), free_port(), free_port());
    // Pebble's certificates live five years: two thirds in is years away.
    let pebble = Pebble::start(PebbleOptions { http_port: plain, tls_port, validity_secs: None, eab: None });
    let ari = RenewalInfo::start(&pebble);
    let fc = Forecourt::start_on(tls_port, &acme_config_at(&ari.directory, &pebble, plain, admin, &origin, ""));
    assert!(issued(admin, &NAMES, Duration::from_secs(60)).await, "not issued:\n{}", fc.stderr());

    // Right after issuance each certificate is asked about, by its own identifier, and its
    // renewal is set inside the window the CA suggests.
    let ids: Vec<String> = NAMES.iter().map(|n| certificate_id(tls_port, n)).collect();
    let asked = eventually(Duration::from_secs(10), || ids.iter().all(|id| ari.asked().contains(id)));
    assert!(asked, "asked {:?}, served {ids:?}\n{}", ari.asked(), fc.stderr());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let status = certificate_status(admin).await.unwrap();
    for name in NAMES {
        let renew_at = status[name]["renew_at"].as_u64().unwrap();
        let window = (now + LATER.0 - Duration::from_secs(60)).as_secs()..=(now + LATER.1).as_secs();
        assert!(window.contains(&renew_at), "{name}: renew at {renew_at}, window {window:?}");
    }

    // The CA moves a's window into the past: at its next check, a minute later (the
    // shortest wait honoured for a Retry-After of 1 s), a is renewed and b is not.
    ari.renew_now(&ids[0]);
    let first = serial(tls_port, NAMES[0]);
    let renewed = eventually(Duration::from_secs(100), || {
        let now = serial(tls_port, NAMES[0]);
        now.starts_with("serial=") && now != first
    });
    assert!(renewed, "not renewed:\n{}", fc.stderr());
    let id = certificate_id(tls_port, NAMES[0]);
    assert!(eventually(Duration::from_secs(10), || ari.asked().contains(&id)), "the new certificate is asked about");
    let b_asked_again =
        eventually(Duration::from_secs(30), || ari.asked().iter().filter(|a| **a == ids[1]).count() >= 2);
    assert!(b_asked_again, "asked {:?}", ari.asked());
    assert_eq!(certificate_id(tls_port, NAMES[1]), ids[1], "b keeps its certificate");
    // The renewal named the certificate it replaces. Pebble 2.4 knows no such field and
    // does not reflect it in the order (RFC 9773 says a CA that takes it must), which
    // counts as a refusal: the renewal was ordered again without it.
    assert!(fc.stderr().contains("the CA refused the order as a replacement"), "{}", fc.stderr());
    let m = metrics(admin).await;
    assert_eq!(metric(&m, "forecourt_certificate_issuances_total{result=\"ok\"}"), 3.0, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_a_certificate_is_issued_a_temporary_one_serves_and_the_failure_shows() {
    let origin = Origin::start("o");
    let (plain, admin, nothing) = (free_port(), free_port(), free_port());
    let config = format!(
        "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{plain}\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n\
         [tls]\nstorage = \"{{dir}}/storage\"\n\
         [acme]\ndirectory = \"https://127.0.0.1:{nothing}/dir\"\n\
         [[route]]\nhosts = [\"a.example.com\"]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    );
    let fc = Forecourt::start(&config);
    let logged = eventually(Duration::from_secs(10), || fc.stderr().contains("cannot get a certificate"));
    assert!(logged, "{}", fc.stderr());
    let log = fc.stderr();
    assert!(log.contains(&format!("https://127.0.0.1:{nothing}/dir")), "the log names the directory:\n{log}");
    assert!(log.contains("temporary self-signed"), "{log}");
    let subject = served_subject(fc.port, "a.example.com").expect("a handshake with the temporary certificate");
    assert!(subject.contains("temporary"), "{subject}");
    let m = metrics(admin).await;
    assert_eq!(metric(&m, "forecourt_certificate_temporary{name=\"a.example.com\"}"), 1.0, "{m}");
    assert!(metric(&m, "forecourt_certificate_failures{name=\"a.example.com\"}") >= 1.0, "{m}");
    // The plain listener serves on.
    let reply = get_with(&format!("http://127.0.0.1:{plain}/"), &[("host", "a.example.com")]).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_names_get_certificates_from_the_internal_ca() {
    let origin = Origin::start("o");
    let config = format!(
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n\
         [tls]\nstorage = \"{{dir}}/storage\"\n\
         [[route]]\nhosts = [\"app.localhost\", \"db.internal\"]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        origin.addr
    );
    let fc = Forecourt::start(&config);
    let root = fc.dir.path("storage/internal/root.pem");
    let logged = eventually(Duration::from_secs(10), || fc.stderr().contains(&root));
    assert!(logged, "the root's path is printed:\n{}", fc.stderr());
    for name in ["app.localhost", "db.internal"] {
        let ok = eventually(Duration::from_secs(10), || curl(&root, name, fc.port, "/", &[]).status.success());
        assert!(ok, "{name}: {}", String::from_utf8_lossy(&curl(&root, name, fc.port, "/", &[]).stderr));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_ca_that_cannot_be_created_is_tried_again_without_a_restart() {
    let origin = Origin::start("o");
    let admin = free_port();
    let storage = TempDir::new("internal-storage");
    // A file where the CA's folder must go: creating the CA fails while it is there.
    let blocker = storage.file("internal", "not a folder");
    let config = format!(
        "[global]\nadmin = \"127.0.0.1:{admin}\"\naccess_log = \"off\"\n\
         [[listen]]\naddr = \"127.0.0.1:{{port}}\"\ntls = true\n[tls]\nstorage = \"{}\"\n\
         [[route]]\nhosts = [\"app.localhost\"]\nupstream = \"o\"\n[upstream.o]\nservers = [\"{}\"]\n",
        storage.0.display(),
        origin.addr
    );
    let fc = Forecourt::start(&config);
    let logged = eventually(Duration::from_secs(10), || fc.stderr().contains("cannot issue certificates"));
    assert!(logged, "{}", fc.stderr());
    // The listener serves with a temporary certificate, and the failure shows.
    let subject = served_subject(fc.port, "app.localhost").expect("a handshake with the temporary certificate");
    assert!(subject.contains("temporary"), "{subject}");
    let m = metrics(admin).await;
    assert_eq!(metric(&m, "forecourt_certificate_temporary{name=\"app.localhost\"}"), 1.0, "{m}");
    let status = certificate_status(admin).await.expect("certificate status");
    let error = status["app.localhost"]["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains(&blocker), "the error names the path: {status}");
    // Once the folder can be made, a requested renewal sets the CA up, with no restart.
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(reqwest_post(admin, "/api/certificates/app.localhost/renew").await, 202);
    let root = storage.path("internal/root.pem");
    let ok = eventually(Duration::from_secs(10), || curl(&root, "app.localhost", fc.port, "/", &[]).status.success());
    assert!(ok, "{}", fc.stderr());
    assert!(fc.stderr().contains(&root), "the root's path is printed:\n{}", fc.stderr());
}

#[test]
fn check_points_at_acme_mistakes() {
    let dir = TempDir::new("acme-check");
    let tls = "[[listen]]\naddr = \"127.0.0.1:8443\"\ntls = true\n";
    let plain = "[[listen]]\naddr = \"127.0.0.1:8080\"\n";
    let route = "[[route]]\nhosts = [\"a.example.com\"]\nrespond = { status = 200 }\n";
    // (name, config, where, what)
    let cases: &[(&str, String, &str, &str)] = &[
        (
            "wildcard",
            format!("{tls}[acme]\nnames = [\"*.example.com\"]\n{route}"),
            "wildcard.toml:5:10: ",
            "`*.example.com`: a wildcard certificate can only be validated by the DNS-01 challenge, and no DNS provider is configured",
        ),
        (
            "dns01",
            format!("{tls}[acme]\nchallenges = [\"dns-01\"]\n{route}"),
            "dns01.toml:5:15: ",
            "dns-01 needs a DNS provider, and none is configured",
        ),
        (
            "http01-no-plain",
            format!("{tls}[acme]\nchallenges = [\"http-01\"]\n{route}"),
            "http01-no-plain.toml:5:15: ",
            "http-01 needs a listener without tls",
        ),
        (
            "eab-half",
            format!("{tls}{plain}[acme]\neab_kid = \"k\"\n{route}"),
            "eab-half.toml:7:11: ",
            "external account binding needs both eab_kid and eab_hmac_key",
        ),
        (
            "eab-key",
            format!("{tls}[acme]\neab_kid = \"k\"\neab_hmac_key = \"not base64!\"\n{route}"),
            "eab-key.toml:6:16: ",
            "eab_hmac_key is not base64url",
        ),
        (
            "directory",
            format!("{tls}[acme]\ndirectory = \"acme.example.com\"\n{route}"),
            "directory.toml:5:13: ",
            "`acme.example.com` is not a directory URL",
        ),
        (
            "no-tls-listener",
            format!("{plain}[acme]\nemail = \"ops@example.com\"\n{route}"),
            "no-tls-listener.toml:3:1: ",
            "[acme] gets certificates for TLS listeners, and no listener has tls = true",
        ),
        (
            "ca-bundle",
            format!("{tls}[acme]\nca_bundle = \"nope.pem\"\n{route}"),
            "ca-bundle.toml:5:13: ",
            "cannot read CA file",
        ),
        (
            "issuer",
            format!("{tls}[tls]\nissuer = \"letsencrypt\"\n{route}"),
            "issuer.toml:5:10: ",
            "unknown issuer `letsencrypt`",
        ),
    ];
    for (name, text, at, what) in cases {
        let path = dir.file(&format!("{name}.toml"), text);
        let out = std::process::Command::new(BIN).args(["check", "-c", &path]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} passed check");
        assert!(stderr.contains(at) && stderr.contains(what), "{name}: {stderr}");
    }
}
