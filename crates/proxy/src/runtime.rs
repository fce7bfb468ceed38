//! The compiled, immutable configuration snapshot that requests read: the front chain,
//! the router (routes with their chains and actions), the upstream groups, TLS.
use crate::admission::Admitted;
use crate::filter::Chain;
use crate::router::Router;
use crate::settings::Settings;
use forecourt_upstream::UpstreamGroup;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A listener that terminates TLS.
pub struct TlsListener {
    pub addr: SocketAddr,
    /// Certificates by SNI, policy, ALPN, client certificates.
    pub config: Arc<rustls::ServerConfig>,
    /// With client certificates: the request header that carries a verified client's
    /// subject to the upstream (and that clients cannot set themselves).
    pub client_cert_header: Option<http::HeaderName>,
}

/// Hosts that ask for client certificates (`[[tls.client_certs]]`), on every TLS listener.
pub struct HostClientCerts {
    /// Lower case; `*.example.com` for a wildcard.
    pub hosts: Vec<String>,
    /// The server configuration for handshakes that ask for one of `hosts` (SNI).
    pub config: Arc<rustls::ServerConfig>,
    pub client_cert_header: Option<http::HeaderName>,
}

impl HostClientCerts {
    fn covers(&self, name: &str) -> bool {
        self.hosts.iter().any(|h| match h.strip_prefix("*.") {
            Some(parent) => name.split_once('.').is_some_and(|(_, rest)| rest == parent),
            None => h == name,
        })
    }
}

/// Which of `list` covers `host` (a name, perhaps with a port).
pub fn client_certs_for(list: &[HostClientCerts], host: &str) -> Option<usize> {
    if list.is_empty() {
        return None;
    }
    let name =
        host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(n, _)| n);
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    list.iter().position(|h| h.covers(&name))
}

/// TLS termination: the listeners and the certificates they share.
pub struct Tls {
    pub listeners: Vec<TlsListener>,
    /// Hosts with client certificates of their own (checked at handshakes by SNI, and
    /// against each request's Host by the `misdirected` and `client_certificate` filters).
    pub host_client_certs: Arc<[HostClientCerts]>,
    /// The certificates by name, which a changed certificate file replaces in place.
    pub certs: Arc<forecourt_tls::SniResolver>,
    /// Where they were loaded from, in order, and the files' `CertSource::stamp`s as they
    /// were just before (so a change made after is seen).
    pub sources: Vec<forecourt_tls::CertSource>,
    pub stamps: Vec<forecourt_tls::FileStamp>,
    /// The names that get certificates automatically (ACME, internal CA).
    pub auto: forecourt_tls::auto::AutoPlan,
}

/// Everything a request needs, compiled from one config file.
pub struct Runtime {
    /// Process-wide policies, run on every request before routing.
    pub front: Chain,
    pub router: Router,
    pub settings: Settings,
    pub listeners: Vec<SocketAddr>,
    /// The listeners' checks on each new connection's address (`allow` / `deny`, connection
    /// limits), in the order they run.
    pub admission: Vec<(SocketAddr, Arc<dyn crate::admission::Admission>)>,
    /// The listeners whose connections start with a PROXY protocol header.
    pub proxy_protocol: Vec<SocketAddr>,
    pub upstreams: BTreeMap<String, Arc<UpstreamGroup>>,
    /// None when no listener has `tls = true`.
    pub tls: Option<Tls>,
    /// Where names in `servers` are looked up again.
    pub dns: forecourt_upstream::dns::DnsSettings,
    pub admin: Option<SocketAddr>,
    /// Worker threads; 0 = one per core. Changing it needs a restart.
    pub workers: usize,
    pub pid_file: Option<String>,
}

impl Tls {
    /// Which `host_client_certs` entry covers `host` (a name, perhaps with a port).
    pub fn client_certs_for(&self, host: &str) -> Option<usize> {
        client_certs_for(&self.host_client_certs, host)
    }
}

impl Runtime {
    /// Whether the listener on `listener` lets a connection from `peer` in: what its
    /// admissions hold while it lives, or `None` when one of them refuses.
    pub fn admit(&self, listener: SocketAddr, peer: std::net::IpAddr) -> Option<Vec<Admitted>> {
        let mut held = Vec::new();
        for (_, a) in self.admission.iter().filter(|(addr, _)| *addr == listener) {
            let admitted = a.admit(peer)?;
            if admitted.holds_something() {
                held.push(admitted);
            }
        }
        Some(held)
    }

    /// The TLS side of the listener on `addr`, if it terminates TLS.
    pub fn tls_on(&self, addr: SocketAddr) -> Option<&TlsListener> {
        self.tls.as_ref()?.listeners.iter().find(|l| l.addr == addr)
    }

    /// The longest pooled-connection idle time of any group (for the pool sweeper).
    pub fn longest_upstream_idle(&self) -> Duration {
        self.upstreams.values().map(|g| g.timeouts.idle).max().unwrap_or(Duration::from_secs(60))
    }

    /// Whether any group of this snapshot has an endpoint at `addr` now (pooled
    /// connections to other addresses are closed: their server was removed or vanished
    /// from DNS).
    pub fn has_endpoint(&self, addr: std::net::SocketAddr) -> bool {
        self.upstreams.values().any(|g| g.members().endpoints.iter().any(|e| e.addr == addr))
    }
}
