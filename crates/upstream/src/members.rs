//! The servers of a group as configured ([`ServerSpec`]), and the endpoints they stand for
//! now ([`Members`]): one per address, so one per server written as an address and one per
//! A/AAAA record of a server written as a name. A group of addresses has the same members
//! for the life of its snapshot; a group with names gets new members when DNS answers
//! change, and requests already with a vanished endpoint finish on it.
use crate::balance::{Algorithm, Balancer};
use crate::endpoint::Endpoint;
use crate::state::Registry;
use http::HeaderValue;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Where a configured server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerTarget {
    Addr(SocketAddr),
    /// A name looked up in DNS; every address it has becomes an endpoint.
    Name {
        host: String,
        port: u16,
    },
}

/// One entry of `servers`.
#[derive(Clone, Debug)]
pub struct ServerSpec {
    /// As written in the config (`host:port`).
    pub label: String,
    pub target: ServerTarget,
    pub weight: u32,
    pub backup: bool,
    pub max_conns: Option<u32>,
    /// `https://` servers: TLS with the group's client configuration.
    pub tls: Option<Arc<crate::tls::UpstreamTls>>,
}

impl ServerSpec {
    /// The host this server's certificate is checked against (unless `tls_server_name`).
    pub fn host(&self) -> String {
        match &self.target {
            ServerTarget::Addr(addr) => addr.ip().to_string(),
            ServerTarget::Name { host, .. } => host.clone(),
        }
    }
}

/// The addresses each name of a group has now.
pub type Resolved = HashMap<String, Vec<IpAddr>>;

/// The endpoints of a group at one time, and the balancers built over them.
#[derive(Debug)]
pub struct Members {
    /// The primary servers first, then the backups.
    pub endpoints: Vec<Endpoint>,
    pub(crate) primaries: usize,
    pub(crate) primary: Balancer,
    pub(crate) backup: Balancer,
}

impl Members {
    /// The endpoints of `servers` given what their names resolve to (a name missing from
    /// `resolved` has no endpoint).
    pub fn build(
        registry: &Registry,
        group: &str,
        servers: &[ServerSpec],
        resolved: &Resolved,
        algorithm: &Algorithm,
    ) -> Members {
        let mut endpoints = Vec::new();
        for spec in servers {
            let addrs: Vec<(SocketAddr, String)> = match &spec.target {
                ServerTarget::Addr(addr) => vec![(*addr, spec.label.clone())],
                ServerTarget::Name { host, port } => resolved
                    .get(host)
                    .into_iter()
                    .flatten()
                    .map(|ip| {
                        let addr = SocketAddr::new(*ip, *port);
                        (addr, format!("{}@{addr}", spec.label))
                    })
                    .collect(),
            };
            for (addr, label) in addrs {
                let state = registry.endpoint(group, &label);
                let mut ep = Endpoint::new(addr, label, spec.weight, state);
                ep.backup = spec.backup;
                ep.max_conns = spec.max_conns;
                ep.tls = spec.tls.as_ref().map(|upstream| crate::tls::EndpointTls {
                    upstream: upstream.clone(),
                    name: upstream.name_for(&spec.host()).ok(),
                });
                endpoints.push(ep);
            }
        }
        Members::new(endpoints, algorithm)
    }

    pub fn new(mut endpoints: Vec<Endpoint>, algorithm: &Algorithm) -> Members {
        endpoints.sort_by_key(|e| e.backup);
        let primaries = endpoints.iter().filter(|e| !e.backup).count();
        let balancer = |eps: &[Endpoint]| {
            let servers: Vec<(&str, u32)> = eps.iter().map(|e| (e.label.as_str(), e.weight)).collect();
            Balancer::new(algorithm, &servers)
        };
        let primary = balancer(&endpoints[..primaries]);
        let backup = balancer(&endpoints[primaries..]);
        if let Algorithm::Cookie { name: cookie, ttl } = algorithm {
            for ep in &mut endpoints {
                let text =
                    format!("{cookie}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax", ep.affinity, ttl.as_secs());
                ep.set_cookie = HeaderValue::from_str(&text).ok();
            }
        }
        Members { endpoints, primaries, primary, backup }
    }
}
