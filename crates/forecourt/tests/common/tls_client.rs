//! TLS clients for tests: Debian's curl and openssl s_client, so that handshakes are
//! spoken by implementations other than ours.
use std::process::{Command, Output, Stdio};

/// `curl` to `https://NAME:PORT/PATH` (resolved to 127.0.0.1), trusting the test CA.
pub fn curl(ca: &str, name: &str, port: u16, path: &str, extra: &[&str]) -> Output {
    let url = format!("https://{name}:{port}{path}");
    let resolve = format!("{name}:{port}:127.0.0.1");
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", ca, "--resolve", &resolve, "-w", "\n%{http_version}"])
        .args(extra)
        .arg(&url)
        .output()
        .expect("curl")
}

/// The subject of the certificate served for `name` (SNI), or None if the handshake failed.
pub fn served_subject(port: u16, name: &str) -> Option<String> {
    served(port, name, "-subject")
}

/// What `openssl x509 -noout FIELD` (options, split at spaces) says of the certificate served for `name`.
pub fn served(port: u16, name: &str, field: &str) -> Option<String> {
    let mut s_client = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let shown = Command::new("openssl")
        .args(["x509", "-noout"])
        .args(field.split_whitespace())
        .stdin(s_client.stdout.take().unwrap())
        .output()
        .unwrap();
    let _ = s_client.wait();
    let subject = String::from_utf8_lossy(&shown.stdout).trim().to_string();
    (!subject.is_empty()).then_some(subject)
}
