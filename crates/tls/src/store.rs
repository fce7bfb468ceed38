//! Picking a certificate by SNI: exact names first, then a wildcard one label up, then
//! the default. The table can be replaced while handshakes use it (certificate files
//! changed on disk), without building a new server configuration.
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

    /// The certificate for a handshake that asked for `name`.
    pub fn find(&self, name: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let Some(name) = name else { return self.default.as_ref() };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.exact
            .get(&name)
            .or_else(|| name.split_once('.').and_then(|(_, parent)| self.wildcard.get(parent)))
            .or(self.default.as_ref())
    }

    /// Whether a certificate of its own (not the default) covers `host`.
    pub fn names(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.exact.contains_key(&host)
            || host.split_once('.').is_some_and(|(_, parent)| self.wildcard.contains_key(parent))
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty() && self.default.is_none()
    }
}

/// What rustls asks at every handshake.
#[derive(Debug, Default)]
pub struct SniResolver {
    table: ArcSwap<CertTable>,
}

impl SniResolver {
    pub fn new(table: CertTable) -> SniResolver {
        SniResolver { table: ArcSwap::from_pointee(table) }
    }

    /// Serves new handshakes from `table`.
    pub fn replace(&self, table: CertTable) {
        self.table.store(Arc::new(table));
    }

    pub fn table(&self) -> Arc<CertTable> {
        self.table.load_full()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = self.table.load().find(hello.server_name()).cloned();
        if found.is_none() {
            tracing::debug!(sni = ?hello.server_name(), "no certificate for this name; handshake refused");
        }
        found
    }
}
