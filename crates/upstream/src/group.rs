use crate::balance::{Algorithm, Balancer, PickInput};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How Forecourt speaks to the servers of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http1,
    /// HTTP/2 over cleartext with prior knowledge.
    H2c,
}

/// Timeouts and pool limits of one group.
#[derive(Clone, Debug)]
pub struct UpstreamTimeouts {
    pub connect: Duration,
    /// From the request being sent to the response head arriving.
    pub response_header: Duration,
    /// How long an idle pooled connection is kept.
    pub idle: Duration,
    /// Idle connections kept per endpoint per worker.
    pub max_idle: usize,
}

/// Counters that belong to one server of one group and survive reloads.
#[derive(Debug, Default)]
pub struct EndpointStats {
    pub requests: AtomicU64,
    pub connect_errors: AtomicU64,
}

impl EndpointStats {
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// One server of a group.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// As written in the config (host:port); used in logs, never shown to clients.
    pub label: String,
    pub weight: u32,
    pub stats: Arc<EndpointStats>,
}

/// A named group of servers and how to pick one.
#[derive(Debug)]
pub struct UpstreamGroup {
    pub name: String,
    pub endpoints: Vec<Endpoint>,
    pub protocol: Protocol,
    pub timeouts: UpstreamTimeouts,
    balancer: Balancer,
}

impl UpstreamGroup {
    pub fn new(
        name: String,
        endpoints: Vec<Endpoint>,
        algorithm: &Algorithm,
        protocol: Protocol,
        timeouts: UpstreamTimeouts,
    ) -> Self {
        let servers: Vec<(&str, u32)> = endpoints.iter().map(|e| (e.label.as_str(), e.weight)).collect();
        let balancer = Balancer::new(algorithm, &servers);
        UpstreamGroup { name, balancer, endpoints, protocol, timeouts }
    }

    /// The endpoint for this request.
    pub fn pick(&self, input: &PickInput<'_>) -> &Endpoint {
        &self.endpoints[self.balancer.pick(input)]
    }
}
