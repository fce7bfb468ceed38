//! Picking a certificate by SNI: exact names first, then a wildcard one label up, then
//! the default. The table can be replaced while handshakes use it (certificate files
//! changed on disk), without building a new server configuration.
use crate::auto::{ManagedCerts, ACME_TLS_ALPN};
use crate::certs::LoadedCert;
use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::sync::Arc;

/// Certificates by the names they are good for.
#[derive(Default, Debug)]
pub struct CertTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertTable {
    /// Adds a certificate under each of its names; a name already taken keeps the
    /// certificate listed first. `default`: also for handshakes whose name no certificate
    /// has (or that send none).
    pub fn add(&mut self, cert: &LoadedCert, default: bool) {
        for name in &cert.names {
            let table = match name.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_string()),
                None => self.exact.entry(name.clone()),
            };
            table.or_insert_with(|| cert.key.clone());
        }
        if default && self.default.is_none() {
            self.default = Some(cert.key.clone());
        }
    }

    /// The certificate with `name` (lower case) among its names, exact or by wildcard.
    pub fn named(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        self.exact.get(name).or_else(|| name.split_once('.').and_then(|(_, parent)| self.wildcard.get(parent)))
    }

    /// Whether a certificate of its own (not the default) covers `host` (lower case).
    pub fn names(&self, host: &str) -> bool {
        self.named(host).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.default.is_none()
    }
}

/// What rustls asks at every handshake.
pub struct SniResolver {
    table: ArcSwap<CertTable>,
    /// Automatic certificates, consulted after the files' table and before the default.
    managed: Arc<ManagedCerts>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver").field("table", &self.table).finish_non_exhaustive()
    }
}

impl SniResolver {
    pub fn new(table: CertTable, managed: Arc<ManagedCerts>) -> SniResolver {
        SniResolver { table: ArcSwap::from_pointee(table), managed }
    }

    /// Serves new handshakes from `table`.
    pub fn replace(&self, table: CertTable) {
        self.table.store(Arc::new(table));
    }

    pub fn table(&self) -> Arc<CertTable> {
        self.table.load_full()
    }

    /// The certificate for a handshake that asked for `name`: a file's certificate for the
    /// name, else a managed (automatic) one, else the default.
    pub fn find(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let table = self.table.load();
        let Some(name) = name else { return table.default.clone() };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match table.named(&name) {
            Some(found) => Some(found.clone()),
            None => self.managed.get(&name).or_else(|| table.default.clone()),
        }
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if hello.alpn().is_some_and(|mut offered| offered.any(|p| p == ACME_TLS_ALPN)) {
            // A CA validating a name: only the challenge's certificate will do.
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.managed.alpn_challenge(&name);
        }
        let found = self.find(hello.server_name());
        if found.is_none() {
            tracing::debug!(sni = ?hello.server_name(), "no certificate for this name; handshake refused");
        }
        found
    }
}
