//! A real ACME server for tests: Debian's `pebble`, with `pebble-challtestsrv` as its DNS
//! server (every name resolves to 127.0.0.1), so that validations come back to the
//! Forecourt under test. Its HTTPS certificate is signed by a throwaway CA (`ca_file`);
//! what it issues chains to a root of its own (`root_pem`).
use super::pki::TestCa;
use super::{free_port, TempDir};
use std::process::{Child, Command, Stdio};

pub struct Pebble {
    pebble: Child,
    dns: Child,
    pub directory: String,
    /// The CA of the directory's HTTPS certificate (for `[acme] ca_bundle`).
    pub ca_file: String,
    management: u16,
    pub dir: TempDir,
}

/// How a Pebble instance is set up.
pub struct PebbleOptions {
    /// Where Pebble validates HTTP-01 (the proxy's plain listener) and TLS-ALPN-01.
    pub http_port: u16,
    pub tls_port: u16,
    /// Lifetime of issued certificates (Pebble's default: five years).
    pub validity_secs: Option<u64>,
    /// External account binding keys (key ID, base64url HMAC key); required when any.
    pub eab: Option<(&'static str, &'static str)>,
}

impl Pebble {
    pub fn start(options: PebbleOptions) -> Pebble {
        // The ports are picked free, but until Pebble binds them another test's outgoing
        // connection may take one as its local port: then again, on other ports.
        let mut tries = 0;
        loop {
            match Pebble::try_start(&options) {
                Ok(pebble) => return pebble,
                Err(log) if log.contains("address already in use") && tries < 3 => tries += 1,
                Err(log) => panic!("pebble did not start:\n{log}"),
            }
        }
    }

    fn try_start(options: &PebbleOptions) -> Result<Pebble, String> {
        let dir = TempDir::new("pebble");
        let ca = TestCa::new();
        let (cert, key) = ca.leaf(&["localhost"]);
        let ca_file = dir.file("ca.pem", &ca.pem());
        let (acme, management, dns) = (free_port(), free_port(), free_port());
        let eab = match options.eab {
            Some((kid, key)) => {
                format!(r#""externalAccountBindingRequired": true, "externalAccountMACKeys": {{"{kid}": "{key}"}},"#)
            }
            None => r#""externalAccountBindingRequired": false,"#.into(),
        };
        let validity = options.validity_secs.map_or(String::new(), |s| format!(r#""certificateValidityPeriod": {s},"#));
        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{acme}", "managementListenAddress": "127.0.0.1:{management}",
                "certificate": "{}", "privateKey": "{}", "httpPort": {}, "tlsPort": {}, {eab} {validity}
                "ocspResponderURL": ""}}}}"#,
            dir.file("cert.pem", &cert),
            dir.file("key.pem", &key),
            options.http_port,
            options.tls_port,
        );
        let config = dir.file("pebble.json", &config);
        let log = |name: &str| Stdio::from(std::fs::File::create(dir.path(name)).unwrap());
        let dns_child = Command::new("pebble-challtestsrv")
            .args(["-dns01", &format!("127.0.0.1:{dns}"), "-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args([
                "-management",
                &format!("127.0.0.1:{}", free_port()),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ])
            .stdout(log("challtestsrv.log"))
            .stderr(log("challtestsrv.err"))
            .spawn()
            .expect("pebble-challtestsrv (Debian package pebble)");
        let pebble = Command::new("pebble")
            .args(["-config", &config, "-dnsserver", &format!("127.0.0.1:{dns}")])
            // Validate at once, never reject a nonce at random, and make every order
            // validate again (no reuse of earlier authorizations).
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log("pebble.log"))
            .stderr(log("pebble.err"))
            .spawn()
            .expect("pebble (Debian package pebble)");
        let mut pebble = pebble;
        // Both listeners, or Pebble's exit: it binds them one after the other, and one
        // taken meanwhile makes it exit with "address already in use" (then again).
        let listening = |port: u16| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        let up = super::eventually(std::time::Duration::from_secs(15), || {
            (listening(management) && listening(acme)) || pebble.try_wait().unwrap().is_some()
        });
        let mut pebble = Pebble {
            pebble,
            dns: dns_child,
            directory: format!("https://localhost:{acme}/dir"),
            ca_file,
            management,
            dir,
        };
        if !up || pebble.pebble.try_wait().unwrap().is_some() {
            let log = |name: &str| std::fs::read_to_string(pebble.dir.path(name)).unwrap_or_default();
            return Err(log("pebble.log") + &log("pebble.err")); // dropping `pebble` stops both
        }
        Ok(pebble)
    }

    /// The root that Pebble's certificates chain to, PEM (new at every Pebble start).
    pub fn root_pem(&self) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--cacert", &self.ca_file, &format!("https://localhost:{}/roots/0", self.management)])
            .output()
            .expect("curl");
        let pem = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(pem.contains("BEGIN CERTIFICATE"), "no root from pebble: {pem}");
        pem
    }

    /// What Pebble logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.pebble.kill();
        let _ = self.pebble.wait();
        let _ = self.dns.kill();
        let _ = self.dns.wait();
    }
}
