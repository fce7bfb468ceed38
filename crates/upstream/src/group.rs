//! An upstream group as compiled from `[upstream.NAME]`: its servers as configured and the
//! endpoints they stand for now ([`Members`], swapped when DNS answers change), how one is
//! picked, and the policies of what happens when one fails.
use crate::balance::{Admit, Algorithm, PickInput};
use crate::endpoint::Endpoint;
use crate::health::HealthCheck;
use crate::members::{Members, Resolved, ServerSpec, ServerTarget};
use crate::outlier::EjectPolicy;
use crate::retry::RetryPolicy;
use crate::state::{flag, GroupState, Registry};
use arc_swap::ArcSwap;
use http::HeaderValue;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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
    /// Its index in [`Members::endpoints`].
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
    /// The servers as configured.
    pub servers: Vec<ServerSpec>,
    members: MemberSet,
    pub protocol: Protocol,
    pub timeouts: UpstreamTimeouts,
    pub policies: GroupPolicies,
    pub state: Arc<GroupState>,
    algorithm: Algorithm,
    /// Where its servers' state lives (new endpoints from DNS take theirs from it too).
    registry: Arc<Registry>,
}

/// The endpoints of a group: fixed when every server is an address, else following DNS.
#[derive(Debug)]
enum MemberSet {
    Fixed(Members),
    Resolved { members: ArcSwap<Members>, names: Mutex<Resolved> },
}

/// The members of a group at one time, held for the whole of a request so that its tries
/// see one list.
pub enum MembersNow<'a> {
    Fixed(&'a Members),
    Resolved(Arc<Members>),
}

impl std::ops::Deref for MembersNow<'_> {
    type Target = Members;
    fn deref(&self) -> &Members {
        match self {
            MembersNow::Fixed(m) => m,
            MembersNow::Resolved(m) => m,
        }
    }
}

impl UpstreamGroup {
    /// A group of `servers`, whose names have the addresses in `resolved` to begin with.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: &Arc<Registry>,
        name: String,
        servers: Vec<ServerSpec>,
        resolved: Resolved,
        algorithm: &Algorithm,
        protocol: Protocol,
        timeouts: UpstreamTimeouts,
        policies: GroupPolicies,
    ) -> Self {
        let built = Members::build(registry, &name, &servers, &resolved, algorithm);
        let members = if servers.iter().all(|s| matches!(s.target, ServerTarget::Addr(_))) {
            MemberSet::Fixed(built)
        } else {
            MemberSet::Resolved { members: ArcSwap::from_pointee(built), names: Mutex::new(resolved) }
        };
        let state = registry.group(&name);
        let registry = registry.clone();
        UpstreamGroup {
            name,
            servers,
            members,
            protocol,
            timeouts,
            policies,
            state,
            algorithm: algorithm.clone(),
            registry,
        }
    }

    /// The endpoints now.
    pub fn members(&self) -> MembersNow<'_> {
        match &self.members {
            MemberSet::Fixed(m) => MembersNow::Fixed(m),
            MemberSet::Resolved { members, .. } => MembersNow::Resolved(members.load_full()),
        }
    }

    /// The names among the servers, to look up again on their TTL.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .servers
            .iter()
            .filter_map(|s| match &s.target {
                ServerTarget::Name { host, .. } => Some(host.clone()),
                ServerTarget::Addr(_) => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// `host` now has these addresses: if that changes the endpoints, the group takes the
    /// new list (requests already with a vanished endpoint finish there) and says so.
    pub fn update_name(&self, host: &str, addrs: Vec<IpAddr>) -> bool {
        let MemberSet::Resolved { members, names } = &self.members else { return false };
        let mut names = names.lock().unwrap();
        if names.get(host) == Some(&addrs) {
            return false;
        }
        names.insert(host.to_string(), addrs);
        members.store(Arc::new(Members::build(&self.registry, &self.name, &self.servers, &names, &self.algorithm)));
        true
    }

    /// TLS to the servers (`https://`), if they speak it.
    pub fn tls(&self) -> Option<&Arc<crate::tls::UpstreamTls>> {
        self.servers.first().and_then(|s| s.tls.as_ref())
    }

    pub fn algorithm(&self) -> &Algorithm {
        &self.algorithm
    }

    /// The server for one try of this request, or `None` if no server can take it (all
    /// down, ejected, full, or already tried). `tried`: bit `i` for each index of
    /// [`Members::endpoints`] this request has already been sent to.
    pub fn pick<'m>(&self, m: &'m Members, input: &PickInput<'_>, tried: u64, now: u64) -> Option<Picked<'m>> {
        if let Some(picked) = self.pinned(m, input, tried, now) {
            return Some(picked);
        }
        let slow_start = self.policies.slow_start;
        let primaries = &m.endpoints[..m.primaries];
        let admit = Admit { endpoints: primaries, tried, now, slow_start };
        let index = match m.primary.pick(input, &admit) {
            Some(i) => i,
            None => {
                let backups = &m.endpoints[m.primaries..];
                let tried = tried.checked_shr(m.primaries as u32).unwrap_or(0);
                let admit = Admit { endpoints: backups, tried, now, slow_start };
                m.primaries + m.backup.pick(input, &admit)?
            }
        };
        let endpoint = &m.endpoints[index];
        Some(Picked { index, endpoint, set_cookie: endpoint.set_cookie.as_ref() })
    }

    /// The server named by the client's affinity cookie, if it can take the request.
    fn pinned<'m>(&self, m: &'m Members, input: &PickInput<'_>, tried: u64, now: u64) -> Option<Picked<'m>> {
        let Algorithm::Cookie { name, .. } = &self.algorithm else { return None };
        let value = crate::balance::cookie(input.headers, name)?;
        let index = m.endpoints.iter().position(|e| e.affinity.as_bytes() == value)?;
        let (tier, offset) = if index < m.primaries {
            (&m.endpoints[..m.primaries], 0)
        } else {
            (&m.endpoints[m.primaries..], m.primaries)
        };
        let tried = tried.checked_shr(offset as u32).unwrap_or(0);
        let admit = Admit { endpoints: tier, tried, now, slow_start: self.policies.slow_start };
        admit.ok_fully(index - offset).then(|| Picked { index, endpoint: &m.endpoints[index], set_cookie: None })
    }

    /// Counts a failed try against server `index` and ejects it if its run of failures is
    /// long enough and the upstream can spare it.
    pub fn record_failure(&self, m: &Members, index: usize, now: u64) {
        let ep = &m.endpoints[index];
        let Some(policy) = &self.policies.eject else {
            ep.state.failed(now, Duration::MAX);
            return;
        };
        if ep.state.failed(now, policy.window) < policy.failures {
            return;
        }
        let out = m.endpoints.iter().filter(|e| e.state.is_ejected(now)).count();
        if (out + 1) as f64 > policy.max_share * m.endpoints.len() as f64 {
            return;
        }
        if ep.state.eject(now, policy.base, policy.max) {
            tracing::warn!(upstream = %self.name, server = %ep.label, "server ejected after consecutive failures");
        }
    }

    /// A try succeeded on server `index`.
    pub fn record_success(&self, m: &Members, index: usize, now: u64) {
        let state = &m.endpoints[index].state;
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
    pub fn retry_after_secs(&self, m: &Members) -> u64 {
        let health = self.policies.health.as_ref().map_or(5, |h| h.interval.as_secs().max(1));
        let now = crate::state::now_ns();
        m.endpoints
            .iter()
            .filter(|e| e.state.flags() & flag::EJECTED != 0)
            .filter_map(|e| e.state.ejected_until().checked_sub(now))
            .map(|ns| ns.div_ceil(1_000_000_000))
            .min()
            .unwrap_or(health)
            .clamp(1, health.max(1))
    }

    /// The total of requests sent to this group's servers, retries included.
    pub fn requests_total(m: &Members) -> u64 {
        m.endpoints.iter().map(|e| e.state.requests.load(std::sync::atomic::Ordering::Relaxed)).sum()
    }

    /// Counts a request toward the retry budget's window (cheap: the request count is read
    /// once a second).
    #[inline]
    pub fn note_request(&self, m: &Members, now: u64) {
        self.state.budget.observe(now / 1_000_000_000, || Self::requests_total(m));
    }

    /// Whether the policy and budget allow one more try.
    pub fn may_retry(&self, m: &Members, now: u64) -> bool {
        self.state.budget.try_spend(&self.policies.retry, Self::requests_total(m), now / 1_000_000_000)
    }
}

#[cfg(test)]
pub mod test_support {
    use super::*;
    use std::net::SocketAddr;

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
