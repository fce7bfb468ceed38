//! What the config asks for: which names get certificates, from which issuer, and where
//! they are kept. Compiled from `[acme]`, `[tls]` and the routes' hosts; compared with the
//! running plan at every reload so that only what changed is touched.
use std::path::PathBuf;
use std::sync::Arc;

/// Let's Encrypt's production directory, the default.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AutoPlan {
    /// Holds the ACME account, issued certificates and the internal CA.
    pub storage: PathBuf,
    pub names: Vec<AutoName>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoName {
    /// Lower case, no trailing dot.
    pub name: String,
    pub issuer: Issuer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issuer {
    Acme(Arc<AcmeSettings>),
    /// Forecourt's own CA, for names no public CA will certify.
    Internal,
}

impl Issuer {
    pub fn label(&self) -> &'static str {
        match self {
            Issuer::Acme(_) => "acme",
            Issuer::Internal => "internal",
        }
    }
}

/// `[acme]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcmeSettings {
    pub directory: String,
    pub email: Option<String>,
    /// CA certificates (PEM) that the directory's HTTPS certificate is verified with;
    /// default: the system's.
    pub ca_bundle: Option<String>,
    /// External account binding: key ID and the decoded HMAC key.
    pub eab: Option<(String, Vec<u8>)>,
    /// The challenges to answer, in order of preference; a failed order tries the next.
    pub challenges: Vec<ChallengeKind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeKind {
    /// Answered by plain HTTP listeners on `/.well-known/acme-challenge/`.
    Http01,
    /// Answered by TLS listeners, in the handshake.
    TlsAlpn01,
}

impl ChallengeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// Names no public CA issues for: these get the internal issuer.
pub fn is_local_name(name: &str) -> bool {
    const LOCAL_SUFFIXES: [&str; 4] = [".localhost", ".internal", ".local", ".home.arpa"];
    name == "localhost"
        || name.parse::<std::net::IpAddr>().is_ok()
        || LOCAL_SUFFIXES.iter().any(|s| name.ends_with(s))
        || !name.contains('.')
}

#[cfg(test)]
mod tests {
    use super::is_local_name;

    #[test]
    fn local_names() {
        for name in
            ["localhost", "app.localhost", "db.internal", "printer.local", "nas.home.arpa", "127.0.0.1", "intranet"]
        {
            assert!(is_local_name(name), "{name}");
        }
        for name in ["example.com", "www.example.org", "a.b.c.io"] {
            assert!(!is_local_name(name), "{name}");
        }
    }
}
