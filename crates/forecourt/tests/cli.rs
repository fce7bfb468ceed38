//! End-to-end: the commands a new user types first — run with the embedded default,
//! check, explain — on good and broken configs.
use crate::common;

use common::*;
use std::process::{Command, Output};

fn forecourt(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn examples() -> String {
    format!("{}/../../examples", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_example_passes_check() {
    let mut n = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = forecourt(&["check", "-c", path.to_str().unwrap()]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
            assert!(stdout.contains(": ok: ") && stdout.contains("route(s)"), "{stdout}");
            n += 1;
        }
    }
    assert!(n >= 2, "the quick-start and multi-site examples exist");
}

/// An operator copies the documentation's config blocks: each must be TOML that
/// `forecourt check` accepts, with a listener (and a certificate for `tls = true`) put in
/// front where the block shows none, each upstream it names defined, and a GeoIP database
/// of the test's own for the one it names. What may still fail is only what lives on the
/// operator's machine: the certificate, list and audit-log files a block names.
#[test]
fn every_config_block_in_the_docs_passes_check() {
    let dir = TempDir::new("doc-blocks");
    let (cert, key) = common::pki::TestCa::new().leaf(&["example.com"]);
    let (cert, key) = (dir.file("cert.pem", &cert), dir.file("key.pem", &key));
    let geoip = dir.path("geo.mmdb");
    let network = common::mmdb::Entry { network: [203, 0, 113, 0], prefix: 24, country: "DE", asn: 64496 };
    std::fs::write(&geoip, common::mmdb::build(&[network])).unwrap();
    let machine_specific = ["cannot read", "cannot open"];
    let mut blocks = 0;
    for doc in ["README.md", "docs/config.md", "docs/operations.md"] {
        let text = std::fs::read_to_string(format!("{}/../../{doc}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        for (n, block) in text.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap()).enumerate() {
            let mut config = String::new();
            if !block.contains("[[listen]]") {
                config.push_str("[[listen]]\naddr = \"127.0.0.1:8080\"\n");
            }
            if block.contains("tls = true") {
                config.push_str(&format!("[[tls.certificates]]\ncert = \"{cert}\"\nkey = \"{key}\"\n"));
            }
            // A GeoIP database is needed to check what uses countries: the test's stands in.
            let mut block = block.to_string();
            for database in block.clone().split('"').filter(|s| s.ends_with(".mmdb")) {
                block = block.replace(database, &geoip);
            }
            config.push_str(&block);
            for name in block.split("upstream = \"").skip(1).filter_map(|rest| rest.split('"').next()) {
                let table = format!("[upstream.{name}]");
                if !config.contains(&table) {
                    config.push_str(&format!("\n{table}\nservers = [\"127.0.0.1:3000\"]\n"));
                }
            }
            let out = forecourt(&["check", "-c", &dir.file(&format!("block{n}.toml"), &config)]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> =
                stderr.lines().filter(|l| l.contains(".toml:") && !l.contains(" error(s);")).collect();
            let unexpected: Vec<&&str> =
                errors.iter().filter(|l| !machine_specific.iter().any(|m| l.contains(m))).collect();
            assert!(unexpected.is_empty(), "{doc}, config block {}: {stderr}\n{config}", n + 1);
            assert!(out.status.success() || !errors.is_empty(), "{doc}, block {}: {stderr}", n + 1);
            blocks += 1;
        }
    }
    assert!(blocks >= 12, "the docs' config blocks were found ({blocks})");
}

/// Each broken config gives file:line:col, what is wrong and a hint, and exit 1.
#[test]
fn check_points_at_the_mistake() {
    let dir = TempDir::new("check");
    let base = "[[listen]]\naddr = \"127.0.0.1:8080\"\n\n[[route]]\nupstream = \"api\"\n\n[upstream.api]\nservers = [\"127.0.0.1:3000\"]\n";
    let cases: &[(&str, String, &[&str])] = &[
        (
            "typo",
            base.replace("[[route]]\n", "[[route]]\nupstreem = \"x\"\n"),
            &["typo.toml:5:1: unknown field `upstreem`", "did you mean `upstream`?"],
        ),
        (
            "global-typo",
            format!("[global]\nworkerz = 2\n{base}"),
            &["global-typo.toml:2:1: unknown field `workerz`", "did you mean `workers`?"],
        ),
        (
            "unknown-upstream",
            base.replace("upstream = \"api\"", "upstream = \"apx\""),
            &["unknown-upstream.toml:5:12: route `route#1` names unknown upstream `apx`", "did you mean `api`?"],
        ),
        (
            "duplicate-listen",
            format!("{base}\n[[listen]]\naddr = \"127.0.0.1:8080\"\n"),
            &["duplicate-listen.toml:11:8: duplicate listen address `127.0.0.1:8080`"],
        ),
        (
            "bad-regex",
            base.replace("[[route]]\n", "[[route]]\npath = \"~^/(unclosed\"\n"),
            &["bad-regex.toml:5:8: invalid regex in path `~^/(unclosed`", "hint: "],
        ),
        (
            "bad-duration",
            format!("[global.timeouts]\nclient_header = \"10\"\n{base}"),
            &["bad-duration.toml:2:17: bad duration `10`: add a unit"],
        ),
        (
            "bad-duration-unit",
            format!("[global]\nshutdown_timeout = \"5 fortnights\"\n{base}"),
            &["bad-duration-unit.toml:2:20: bad duration"],
        ),
        (
            "too-many-headers",
            format!("[global.limits]\nmax_headers = 500\n{base}"),
            &["too-many-headers.toml:2:15: max_headers must be between 1 and 128"],
        ),
        ("syntax", format!("{base}\n[upstream.web\n"), &["syntax.toml:10:"]),
        (
            "no-action",
            "[[listen]]\naddr = \":1\"\n[[route]]\npath = \"/x\"\n".to_string(),
            &[
                "no-action.toml:4:8: route `route#1` does nothing",
                "exactly one of upstream, split, respond or redirect",
            ],
        ),
        (
            "bad-balance",
            base.replace("servers =", "balance = \"least_con\"\nservers ="),
            &["bad-balance.toml:8:11: unknown balance `least_con`", "did you mean `least_conn`?"],
        ),
        (
            "unknown-balance",
            base.replace("servers =", "balance = \"fastest\"\nservers ="),
            &["unknown-balance.toml:8:11: unknown balance `fastest`", "available: p2c_ewma, round_robin, least_conn"],
        ),
        (
            "cookie-without-cookie-balance",
            base.replace("servers =", "cookie = \"sid\"\nservers ="),
            &["cookie-without-cookie-balance.toml:8:10: `cookie` in upstream `api` needs balance = \"cookie\""],
        ),
        (
            "bad-health-status",
            format!("{base}\n[upstream.api.health]\npath = \"/ok\"\nstatus = \"200-9\"\n"),
            &["bad-health-status.toml:12:10: bad expected status (upstream `api`)", "\"200-399\""],
        ),
        (
            "zero-rise",
            format!("{base}\n[upstream.api.health]\ntype = \"tcp\"\nrise = 0\n"),
            &["zero-rise.toml:12:8: `rise` must be at least 1 (upstream `api`)"],
        ),
        (
            "bad-health-type",
            format!("{base}\n[upstream.api.health]\ntype = \"icmp\"\n"),
            &["bad-health-type.toml:11:8: unknown health check type `icmp`"],
        ),
        (
            "eject-share",
            format!("{base}\n[upstream.api.eject]\nmax_percent = 150\n"),
            &["eject-share.toml:11:15: `max_percent` is a share from 0 to 100"],
        ),
        (
            "retry-attempts",
            format!("{base}\n[upstream.api.retry]\nattempts = 0\nstatuses = [503, 700]\n"),
            &[
                "retry-attempts.toml:11:12: `attempts` is from 1",
                "retry-attempts.toml:12:12: 700 is not an HTTP status",
            ],
        ),
        (
            "split-sums-to-zero",
            base.replace("upstream = \"api\"\n", "split = [{ upstream = \"api\", weight = 0 }]\n"),
            &["split-sums-to-zero.toml:5:9: the weights of route `route#1`'s split sum to 0"],
        ),
        (
            "split-unknown-upstream",
            base.replace(
                "upstream = \"api\"\n",
                "split = [{ upstream = \"api\", weight = 9 }, { upstream = \"apj2\" }]\n",
            ),
            &["split-unknown-upstream.toml:5:57: route `route#1` names unknown upstream `apj2`", "did you mean `api`?"],
        ),
        (
            "split-and-upstream",
            base.replace("upstream = \"api\"\n", "upstream = \"api\"\nsplit = [{ upstream = \"api\" }]\n"),
            &["route `route#1` has more than one action", "exactly one of upstream, split, respond or redirect"],
        ),
        (
            "queue-without-limit",
            base.replace("servers =", "queue = 10\nqueue_timeout = \"2s\"\nservers ="),
            &["queue-without-limit.toml:9:17: `queue` in upstream `api` needs max_requests"],
        ),
        (
            "zero-max-requests",
            base.replace("servers =", "max_requests = 0\nservers ="),
            &["zero-max-requests.toml:8:16: `max_requests` must be at least 1"],
        ),
        (
            "mirror-unknown",
            base.replace(
                "upstream = \"api\"\n",
                "upstream = \"api\"\nmirror = { upstream = \"shadow\", percent = 10 }\n",
            ),
            &["mirror-unknown.toml:6:23: route `route#1` names unknown upstream `shadow`"],
        ),
        (
            "mirror-percent",
            base.replace(
                "upstream = \"api\"\n",
                "upstream = \"api\"\nmirror = { upstream = \"api\", percent = 150.0 }\n",
            ),
            &["mirror-percent.toml:6:40: mirror percent 150 is not from 0 to 100"],
        ),
        (
            "zero-max-conns",
            base.replace("servers = [\"127.0.0.1:3000\"]", "servers = [{ addr = \"127.0.0.1:3000\", max_conns = 0 }]"),
            &["zero-max-conns.toml:8:12: max_conns 0: a whole number from 1"],
        ),
        (
            "hash-without-key",
            base.replace("servers =", "balance = \"hash\"\nservers ="),
            &[
                "hash-without-key.toml:8:11: balance = \"hash\" in upstream `api` has no `key`",
                "key = \"header:X-User\"",
            ],
        ),
        (
            "bad-key",
            base.replace("servers =", "balance = \"hash\"\nkey = \"host\"\nservers ="),
            &["bad-key.toml:9:7: `host` is not a key source", "cookie:NAME"],
        ),
        (
            "zero-weight",
            base.replace("servers = [\"127.0.0.1:3000\"]", "servers = [{ addr = \"127.0.0.1:3000\", weight = 0 }]"),
            &["zero-weight.toml:8:12: weight 0: weights are whole numbers from 1"],
        ),
        (
            "bad-server-name",
            base.replace("servers = [\"127.0.0.1:3000\"]", "servers = [\"app server:3000\"]"),
            &["bad-server-name.toml:8:11: server `app server:3000` in upstream `api`: `app server` is neither"],
        ),
        (
            "bad-dns-server",
            format!("[global.dns]\nservers = [\"ns1:53\"]\n{base}"),
            &["bad-dns-server.toml:2:12: bad DNS server `ns1:53`", "127.0.0.1:5353"],
        ),
        (
            "dns-ttls",
            format!("[global.dns]\nmin_ttl = \"10s\"\nmax_ttl = \"5s\"\n{base}"),
            &["dns-ttls.toml:3:11: max_ttl is shorter than min_ttl"],
        ),
        (
            "dns-zero-ttl",
            format!("[global.dns]\nmin_ttl = \"0s\"\n{base}"),
            &["dns-zero-ttl.toml:2:11: min_ttl is at least 1s"],
        ),
        (
            "replay-without-forward",
            format!("{base}\n[[route]]\npath = \"/r\"\nrespond = {{ status = 204 }}\nretry_non_idempotent = true\n"),
            &["replay-without-forward.toml:13:24: route `route#2` sets retry_non_idempotent but does not forward"],
        ),
        (
            "mirror-h2c",
            base.replace("upstream = \"api\"\n", "upstream = \"api\"\nmirror = { upstream = \"shadow\" }\n")
                + "\n[upstream.shadow]\nservers = [\"127.0.0.1:3001\"]\nprotocol = \"h2c\"\n",
            &["mirror-h2c.toml:6:10: route `route#1` mirrors, but upstream `shadow` is not plain HTTP/1.1"],
        ),
        (
            "bad-hsts",
            base.replace("upstream = \"api\"\n", "upstream = \"api\"\nhsts = \"forever\"\n"),
            &["bad-hsts.toml:6:8: `forever` is not a Strict-Transport-Security value"],
        ),
        (
            "mixed-schemes",
            base.replace(
                "servers = [\"127.0.0.1:3000\"]",
                "servers = [\"http://127.0.0.1:3000\", \"https://127.0.0.1:3001\"]",
            ),
            &["mixed-schemes.toml:8:11: upstream `api` mixes http:// and https:// servers"],
        ),
        (
            "tls-keys-plain",
            base.replace("servers = [", "tls_server_name = \"x.test\"\nservers = ["),
            &["tls-keys-plain.toml:8:19: tls_* keys in upstream `api` need https:// servers"],
        ),
        (
            "tls-ca-missing",
            base.replace(
                "servers = [\"127.0.0.1:3000\"]",
                "servers = [\"https://127.0.0.1:3000\"]\ntls_ca = \"nope.pem\"",
            ),
            &["tls-ca-missing.toml:9:10: upstream `api`: cannot read CA file"],
        ),
        (
            "server-typo",
            base.replace("servers = [\"127.0.0.1:3000\"]", "servers = [{ adr = \"127.0.0.1:3000\" }]"),
            &[
                "server-typo.toml:8:12: unknown field `adr`, expected one of `addr`, `weight`, `backup`, `max_conns`",
                "did you mean `addr`?",
            ],
        ),
        (
            "key-without-hash",
            base.replace("servers =", "key = \"ip\"\nservers ="),
            &["key-without-hash.toml:8:7: `key` in upstream `api` needs balance = \"hash\""],
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.file(&format!("{name}.toml"), text);
        let out = forecourt(&["check", "-c", &path]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        for e in *expected {
            assert!(stderr.contains(e), "{name}: expected `{e}` in:\n{stderr}");
        }
        assert!(stderr.contains("nothing was started"), "{stderr}");
    }
}

/// `check` (and `explain`, `reload`) compile a config without making it the process's:
/// nothing is written where the server keeps its state or its cache (a `check` run as
/// root must not leave a secret or a folder the server's user cannot use), and no feed
/// is fetched.
#[test]
fn check_makes_and_writes_nothing() {
    let dir = TempDir::new("check-writes");
    let config = dir.file(
        "forecourt.toml",
        "[global]\nadmin = \"off\"\naccess_log = \"off\"\ndata_dir = \"state\"\n[[listen]]\naddr = \"127.0.0.1:1\"\n\
         [lists.drop]\nurl = \"http://127.0.0.1:1/drop.txt\"\n[bans]\n[challenge]\n\
         [cache]\nmemory = \"1m\"\ndisk = { path = \"cache\", size = \"100m\" }\n\
         [[route]]\nupstream = \"app\"\ndeny = [\"drop\"]\nchallenge = true\ncache = true\n\
         [upstream.app]\nservers = [\"127.0.0.1:1\"]\n",
    );
    let out = forecourt(&["check", "-c", &config]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = forecourt(&["explain", "-c", &config, "GET", "http://a/x"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made: Vec<_> = std::fs::read_dir(&dir.0).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(made, ["forecourt.toml"], "nothing beside the config");
}

#[test]
fn run_refuses_a_broken_config() {
    let dir = TempDir::new("runbad");
    let path = dir.file("bad.toml", "[[listen]]\naddr = \"nope\"\n");
    let out = forecourt(&["run", "-c", &path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:2:8: bad listen address `nope`"));
}

#[test]
fn explain_shows_route_filters_and_upstream() {
    let cfg = format!("{}/multi-site.toml", examples());
    let out = forecourt(&["explain", "-c", &cfg, "GET", "http://example.com/api/users"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("route:    api (matched by exact host, path prefix)"), "{text}");
    assert!(
        text.contains("filters:  strip_prefix(/api) -> request_headers -> hide_response_headers -> response_headers"),
        "{text}"
    );
    assert!(
        text.contains("upstream `api` (Http1, least_conn)") && text.contains("127.0.0.1:3002 (weight 3)"),
        "{text}"
    );
    assert!(text.contains("127.0.0.1:3003 (weight 1, backup)"), "{text}");

    let out = forecourt(&["explain", "-c", &cfg, "GET", "http://shop.example.com/", "-H", "X-Canary: 1"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("route:    tenants-canary (matched by wildcard host"));
    let out = forecourt(&["explain", "-c", &cfg, "GET", "http://shop.example.com/"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("route:    tenants (matched by wildcard host"));
    let out = forecourt(&["explain", "-c", &cfg, "GET", "http://nowhere.net/x"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("none matches; Forecourt answers 404"));
    let out = forecourt(&["explain", "-c", &cfg, "GET", "http://old.example.org/a"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("redirect 301 Moved Permanently to https://example.com{uri}"));
    // As the server parses a target typed with bytes past ASCII (`non_ascii_targets`).
    let out = forecourt(&["explain", "-c", &cfg, "GET", "http://example.com/caf\u{e9}"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refused (request target past ASCII); Forecourt answers 400"), "{text}");
}

/// `forecourt run` with no arguments, in `dir`.
fn run_in(dir: &TempDir) -> std::process::Child {
    Command::new(BIN)
        .arg("run")
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// `forecourt run` with no file and no ./forecourt.toml serves the welcome page on
/// 127.0.0.1:8080 and the admin endpoint on 127.0.0.1:9901; with ./forecourt.toml, that file.
#[tokio::test]
async fn run_uses_the_embedded_default_or_the_local_file() {
    let dir = TempDir::new("run");
    let mut child = run_in(&dir);
    wait_for_port(8080);
    let page = get("http://127.0.0.1:8080/").await;
    let health = get("http://127.0.0.1:9901/health").await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Forecourt is running") && page.body.contains("respond = { status = 200"),
        "{}",
        page.body
    );
    assert_eq!(health.body, "ok\n");

    let port = free_port();
    dir.file("forecourt.toml", &format!("[global]\nadmin = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{port}\"\n[[route]]\nrespond = {{ body = \"local file\" }}\n"));
    let mut child = run_in(&dir);
    wait_for_port(port);
    let page = get(&format!("http://127.0.0.1:{port}/")).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(page.body, "local file");
}

/// A second Forecourt on a port that is already served refuses to start instead of
/// silently sharing it through SO_REUSEPORT.
#[test]
fn a_busy_port_is_refused() {
    let port = free_port();
    let dir = TempDir::new("busy");
    let cfg = dir.file("a.toml", &format!("[global]\nadmin = \"off\"\n[[listen]]\naddr = \"127.0.0.1:{port}\"\n[[route]]\nrespond = {{ body = \"first\" }}\n"));
    let mut first = Command::new(BIN)
        .args(["run", "-c", &cfg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    let second = forecourt(&["run", "-c", &cfg]);
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains(&format!("cannot listen on 127.0.0.1:{port}")));
}

/// A start whose admin port is taken is refused before anything of the config is
/// committed (the cache's disk tier never started), with the error at `admin`'s line.
#[test]
fn a_busy_admin_port_is_refused_at_its_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let dir = TempDir::new("busy-admin");
    let cache = dir.path("cache");
    let cfg = dir.file(
        "a.toml",
        &format!(
            "[global]\nadmin = \"{busy}\"\n[[listen]]\naddr = \"127.0.0.1:{}\"\n[cache]\n\
             disk = {{ path = \"{}\", size = \"100m\" }}\n[[route]]\nrespond = {{ body = \"x\" }}\n",
            free_port(),
            cache
        ),
    );
    let out = forecourt(&["run", "-c", &cfg]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("a.toml:2:9: cannot listen on admin address {busy}")), "{stderr}");
    assert!(!stderr.contains("cache disk loaded"), "the disk tier started: {stderr}");
}
