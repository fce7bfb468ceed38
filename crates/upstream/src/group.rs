//! An upstream group as compiled from `[upstream.NAME]`: its servers (primaries, then
//! backups), how one is picked, and the policies of what happens when one fails.
use crate::balance::{Admit, Algorithm, Balancer, HashRing, PickInput};
use crate::health::HealthCheck;
use crate::outlier::EjectPolicy;
use crate::retry::RetryPolicy;
use crate::state::{flag, registry, EndpointState, GroupState};
use http::HeaderValue;
use std::net::SocketAddr;
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

/// One server of a group.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// As written in the config (host:port); used in logs, never shown to clients.
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
    set_cookie: Option<HeaderValue>,
}

impl Endpoint {
    pub fn new(addr: SocketAddr, label: String, weight: u32, state: Arc<EndpointState>) -> Endpoint {
        let affinity = format!("{:016x}", HashRing::label_id(&label));
        Endpoint { addr, label, weight, backup: false, max_conns: None, state, affinity, set_cookie: None }
    }
}

/// What happens around the pick: retries, ejection, active checks, slow start.
#[derive(Clone, Debug, Default)]
pub struct GroupPolicies {
    pub retry: RetryPolicy,
    pub eject: Option<EjectPolicy>,
    pub health: Option<HealthCheck>,
    /// A server back in rotation ramps up to its full weight over this long.
    pub slow_start: Duration,
    /// Requests with the upstream at once, and the queue beyond.
    pub limits: Option<crate::limit::Limits>,
}

/// The server chosen for one try of a request.
pub struct Picked<'a> {
    /// Its index in [`UpstreamGroup::endpoints`].
    pub index: usize,
    pub endpoint: &'a Endpoint,
    /// The affinity cookie to set on the response, when the client is not yet pinned to
    /// this server.
    pub set_cookie: Option<&'a HeaderValue>,
}

/// A named group of servers and how to pick one.
#[derive(Debug)]
pub struct UpstreamGroup {
    pub name: String,
    /// The primary servers first, then the backups.
    pub endpoints: Vec<Endpoint>,
    primaries: usize,
    pub protocol: Protocol,
    pub timeouts: UpstreamTimeouts,
    pub policies: GroupPolicies,
    pub state: Arc<GroupState>,
    algorithm: Algorithm,
    primary: Balancer,
    backup: Balancer,
}

impl UpstreamGroup {
    pub fn new(
        name: String,
        mut endpoints: Vec<Endpoint>,
        algorithm: &Algorithm,
        protocol: Protocol,
        timeouts: UpstreamTimeouts,
        policies: GroupPolicies,
    ) -> Self {
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
        let state = registry().group(&name);
        UpstreamGroup {
            name,
            endpoints,
            primaries,
            protocol,
            timeouts,
            policies,
            state,
            algorithm: algorithm.clone(),
            primary,
            backup,
        }
    }

    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The server for one try of this request, or `None` if no server can take it (all
    /// down, ejected, full, or already tried). `tried`: bit `i` for each index of
    /// [`Self::endpoints`] this request has already been sent to.
    pub fn pick(&self, input: &PickInput<'_>, tried: u64, now: u64) -> Option<Picked<'_>> {
        if let Some(picked) = self.pinned(input, tried, now) {
            return Some(picked);
        }
        let slow_start = self.policies.slow_start;
        let primaries = &self.endpoints[..self.primaries];
        let admit = Admit { endpoints: primaries, tried, now, slow_start };
        let index = match self.primary.pick(input, &admit) {
            Some(i) => i,
            None => {
                let backups = &self.endpoints[self.primaries..];
                let tried = tried.checked_shr(self.primaries as u32).unwrap_or(0);
                let admit = Admit { endpoints: backups, tried, now, slow_start };
                self.primaries + self.backup.pick(input, &admit)?
            }
        };
        let endpoint = &self.endpoints[index];
        Some(Picked { index, endpoint, set_cookie: endpoint.set_cookie.as_ref() })
    }

    /// The server named by the client's affinity cookie, if it can take the request.
    fn pinned(&self, input: &PickInput<'_>, tried: u64, now: u64) -> Option<Picked<'_>> {
        let Algorithm::Cookie { name, .. } = &self.algorithm else { return None };
        let value = crate::balance::cookie(input.headers, name)?;
        let index = self.endpoints.iter().position(|e| e.affinity.as_bytes() == value)?;
        let (tier, offset) = if index < self.primaries {
            (&self.endpoints[..self.primaries], 0)
        } else {
            (&self.endpoints[self.primaries..], self.primaries)
        };
        let tried = tried.checked_shr(offset as u32).unwrap_or(0);
        let admit = Admit { endpoints: tier, tried, now, slow_start: self.policies.slow_start };
        admit.ok_fully(index - offset).then(|| Picked { index, endpoint: &self.endpoints[index], set_cookie: None })
    }

    /// Counts a failed try against server `index` and ejects it if its run of failures is
    /// long enough and the upstream can spare it.
    pub fn record_failure(&self, index: usize, now: u64) {
        let ep = &self.endpoints[index];
        let Some(policy) = &self.policies.eject else {
            ep.state.failed(now, Duration::MAX);
            return;
        };
        if ep.state.failed(now, policy.window) < policy.failures {
            return;
        }
        let out = self.endpoints.iter().filter(|e| e.state.is_ejected(now)).count();
        if (out + 1) as f64 > policy.max_share * self.endpoints.len() as f64 {
            return;
        }
        if ep.state.eject(now, policy.base, policy.max) {
            tracing::warn!(upstream = %self.name, server = %ep.label, "server ejected after consecutive failures");
        }
    }

    /// A try succeeded on server `index`.
    pub fn record_success(&self, index: usize, now: u64) {
        let state = &self.endpoints[index].state;
        state.succeeded();
        if let Some(policy) = &self.policies.eject {
            state.forgive(now, policy.quiet_period());
        }
    }

    /// Whether a response status counts as a failure of the server that sent it.
    pub fn is_failure_status(&self, status: u16) -> bool {
        self.policies.eject.as_ref().is_some_and(|p| p.statuses.contains(&status))
    }

    /// Seconds a client should wait before trying again when no server can take requests:
    /// until the first ejection ends, or one health-check interval.
    pub fn retry_after_secs(&self) -> u64 {
        let health = self.policies.health.as_ref().map_or(5, |h| h.interval.as_secs().max(1));
        let now = crate::state::now_ns();
        self.endpoints
            .iter()
            .filter(|e| e.state.flags() & flag::EJECTED != 0)
            .filter_map(|e| e.state.ejected_until().checked_sub(now))
            .map(|ns| ns.div_ceil(1_000_000_000))
            .min()
            .unwrap_or(health)
            .clamp(1, health.max(1))
    }

    /// The total of requests sent to this group's servers, retries included.
    pub fn requests_total(&self) -> u64 {
        self.endpoints.iter().map(|e| e.state.requests.load(std::sync::atomic::Ordering::Relaxed)).sum()
    }

    /// Whether the policy and budget allow one more try.
    pub fn may_retry(&self, now: u64) -> bool {
        self.state.budget.try_spend(&self.policies.retry, self.requests_total(), now / 1_000_000_000)
    }
}

#[cfg(test)]
pub mod test_support {
    use super::*;

    /// A tier of servers with fresh state, for balancer tests.
    pub struct Tier {
        pub endpoints: Vec<Endpoint>,
    }

    impl Tier {
        pub fn new(weights: &[u32]) -> Tier {
            let endpoints = weights
                .iter()
                .enumerate()
                .map(|(i, &w)| {
                    let addr = SocketAddr::from(([127, 0, 0, 1], 1000 + i as u16));
                    Endpoint::new(addr, format!("s{i}:1"), w, Arc::default())
                })
                .collect();
            Tier { endpoints }
        }

        pub fn admit(&self) -> Admit<'_> {
            Admit { endpoints: &self.endpoints, tried: 0, now: crate::state::now_ns(), slow_start: Duration::ZERO }
        }
    }
}
