//! The server side of TLS: protocol versions and cipher suites by policy, ALPN, and
//! session resumption (a session store, or tickets, shared by every worker and kept across
//! reloads).
use crate::sessions::{SessionCache, SESSION_LIFETIME};
use crate::tickets::own_rotating_tickets;
use crate::TlsState;
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::server::{NoServerSessionStorage, ProducesTickets, ResolvesServerCert};
use rustls::ServerConfig;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Which clients a listener accepts, after Mozilla's server-side TLS profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// TLS 1.2 and 1.3, ECDHE with AES-GCM or ChaCha20-Poly1305 only (Mozilla
    /// "intermediate": every client of the last several years).
    #[default]
    Intermediate,
    /// TLS 1.3 only (Mozilla "modern").
    Modern,
}

/// The protocol versions a listener offers (`[tls] protocols`), within its policy: TLS
/// 1.2 is never offered under `Modern`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    pub tls12: bool,
    pub tls13: bool,
}

impl Versions {
    /// Every version the policy allows (the default).
    pub const ALL: Versions = Versions { tls12: true, tls13: true };
}

/// How a listener's handshakes go: the protocol policy and versions, and whether clients
/// may resume earlier sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handshakes {
    pub policy: Policy,
    pub versions: Versions,
    pub resumption: Resumption,
}

/// How clients resume earlier sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumption {
    /// Every handshake is a full one.
    Off,
    /// By TLS 1.2 session ID and single-use TLS 1.3 ticket, both naming a session the
    /// server keeps (the default; Mozilla's advice for nginx).
    Stored,
    /// By tickets that carry the session sealed under a key replaced every `rotation`
    /// (TLS 1.3, and TLS 1.2 clients that ask for them; the others by session ID).
    Tickets { rotation: Duration },
}

/// The crypto provider every TLS object of Forecourt uses (aws-lc-rs), with the AES-128
/// suites first in each protocol version (Mozilla's order).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = aws_lc_rs::default_provider();
            // Stable: the versions keep their order, AES-128 moves ahead within each.
            provider.cipher_suites.sort_by_key(|s| {
                let v13 = matches!(s, rustls::SupportedCipherSuite::Tls13(_));
                let aes128 = format!("{:?}", s.suite()).contains("AES_128");
                (!v13, !aes128)
            });
            Arc::new(provider)
        })
        .clone()
}

/// Without sealed tickets, resumption goes by the session store (see `sessions`), whose
/// TLS 1.3 tickets only name a stored session.
#[derive(Debug)]
struct NoTickets;

impl ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }
    fn lifetime(&self) -> u32 {
        0
    }
    fn encrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
    fn decrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// A server configuration that takes its certificates from `certs`, offering HTTP/2 and
/// HTTP/1.1 by ALPN, and asking for client certificates when `clients` says so. Sessions
/// and ticket keys come from the process's `state` (listeners with client certificates
/// keep their own).
pub fn server_config(
    state: &TlsState,
    handshakes: Handshakes,
    certs: Arc<dyn ResolvesServerCert>,
    clients: Option<&crate::ClientAuth>,
) -> Result<Arc<ServerConfig>, String> {
    let Versions { tls12, tls13 } = handshakes.versions;
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if tls12 && handshakes.policy == Policy::Intermediate {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err("TLS policy: no protocol version is left to offer".into());
    }
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS policy: {e}"))?;
    let mut config = match clients {
        None => builder.with_no_client_auth(),
        Some(clients) => builder.with_client_cert_verifier(clients.verifier()?),
    }
    .with_cert_resolver(certs);
    // acme-tls/1 last: only a CA validating a TLS-ALPN-01 challenge offers it.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), crate::auto::ACME_TLS_ALPN.to_vec()];
    // The server's order (AES-128-GCM with SHA-256 first), as browsers ask anyway: clients
    // that put AES-256/SHA-384 first (OpenSSL's default) would otherwise make every
    // handshake's key schedule run on SHA-384, which aws-lc computes without vector
    // instructions on some CPUs (AMD), at about a quarter of a handshake's CPU time.
    config.ignore_client_order = true;
    // Listeners that verify client certificates keep sessions and ticket keys of their
    // own: a session resumed there must have been verified there.
    let shared = clients.is_none();
    config.session_storage = match handshakes.resumption {
        Resumption::Off => Arc::new(NoServerSessionStorage {}),
        _ if shared => state.sessions(),
        _ => Arc::new(SessionCache::new(4096, SESSION_LIFETIME)),
    };
    config.ticketer = match handshakes.resumption {
        Resumption::Tickets { rotation } if shared => state.rotating_tickets(rotation)?,
        Resumption::Tickets { rotation } => own_rotating_tickets(rotation)?,
        Resumption::Off | Resumption::Stored => Arc::new(NoTickets),
    };
    // One TLS 1.3 ticket per handshake, as Go (Caddy) sends: each costs the server a
    // stored session or a sealing and the client a session object, and a client that
    // resumes gets a new one at every resumption.
    config.send_tls13_tickets = usize::from(handshakes.resumption != Resumption::Off);
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use rustls::CipherSuite;

    #[test]
    fn aes_128_comes_first_in_each_version() {
        let order: Vec<CipherSuite> = super::provider().cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(order[0], CipherSuite::TLS13_AES_128_GCM_SHA256);
        assert_eq!(order[1], CipherSuite::TLS13_AES_256_GCM_SHA384);
        assert_eq!(order[2], CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
        let tls12: Vec<String> = order[3..].iter().map(|s| format!("{s:?}")).collect();
        assert!(tls12[0].contains("AES_128") && tls12[1].contains("AES_128"), "{tls12:?}");
        assert!(tls12[2..].iter().all(|s| !s.contains("AES_128")), "{tls12:?}");
    }
}
