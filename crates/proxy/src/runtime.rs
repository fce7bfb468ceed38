//! The compiled, immutable configuration snapshot that requests read.
use crate::access_log::AccessLog;
use crate::cidr::CidrList;
use crate::router::Router;
use forecourt_upstream::UpstreamGroup;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// An HTTP/1.1 keep-alive connection idle this long gives up its HTTP state and buffers
/// until its next request (it stays open).
pub const PARK_AFTER: Duration = Duration::from_millis(500);

/// Client-side timeouts and limits.
#[derive(Clone, Debug)]
pub struct ClientLimits {
    /// Time to receive a complete request head once its first byte has arrived.
    pub header_timeout: Duration,
    /// Longest wait between two reads of a request body.
    pub body_timeout: Duration,
    /// Longest wait for an HTTP/1 client to take more of a response (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    pub keepalive_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
    /// Default request body limit of routes that set none.
    pub max_body: Option<u64>,
}

impl ClientLimits {
    pub fn h1(&self) -> crate::h1::Limits {
        crate::h1::Limits {
            max_head_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            header_timeout: self.header_timeout,
            keepalive_timeout: self.keepalive_timeout,
            send_timeout: self.send_timeout,
            park_after: PARK_AFTER,
        }
    }
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body: None,
        }
    }
}

pub struct Settings {
    pub client: ClientLimits,
    pub trusted_proxies: CidrList,
    pub access_log: Option<Arc<AccessLog>>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
}

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

/// TLS termination: the listeners and the certificates they share.
pub struct Tls {
    pub listeners: Vec<TlsListener>,
    /// Hosts with client certificates of their own (checked at handshakes by SNI, and
    /// against each request's Host).
    pub host_client_certs: Vec<HostClientCerts>,
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
    pub router: Router,
    pub settings: Settings,
    pub listeners: Vec<SocketAddr>,
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
        if self.host_client_certs.is_empty() {
            return None;
        }
        let name =
            host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(n, _)| n);
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.host_client_certs.iter().position(|h| h.covers(&name))
    }
}

impl Runtime {
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
