//! One server of a group at one address: what the balancer picks and a try is sent to.
use crate::stable_hash::stable_hash;
use crate::state::EndpointState;
use http::HeaderValue;
use std::net::SocketAddr;
use std::sync::Arc;

/// One server of a group: one address.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The server as written (host:port), with `@address` for a name's addresses; used in
    /// logs, metrics and the admin API, never shown to clients.
    pub label: String,
    pub weight: u32,
    /// Takes requests only when no primary server can.
    pub backup: bool,
    /// Requests in flight to this server at most (across workers).
    pub max_conns: Option<u32>,
    pub state: Arc<EndpointState>,
    /// This server's value in an affinity cookie: stable across reloads and processes,
    /// and saying nothing about the server's address.
    pub affinity: String,
    /// The affinity cookie that pins a client to this server (`balance = "cookie"`).
    pub(crate) set_cookie: Option<HeaderValue>,
    /// TLS to this server (`https://`).
    pub tls: Option<crate::tls::EndpointTls>,
}

impl Endpoint {
    /// The server as written in the config (the label without a name's `@address`): the
    /// Host that health checks send by default.
    pub fn server(label: &str) -> &str {
        label.split_once('@').map_or(label, |(server, _)| server)
    }

    pub fn new(addr: SocketAddr, label: String, weight: u32, state: Arc<EndpointState>) -> Endpoint {
        let affinity = format!("{:016x}", stable_hash(label.as_bytes()));
        Endpoint { addr, label, weight, backup: false, max_conns: None, state, affinity, set_cookie: None, tls: None }
    }
}
