//! Names in `servers` lists: looked up at load and reload (so that `check` can say a name
//! does not resolve), and again whenever their answer's TTL runs out. Every A and AAAA
//! record of a name is one endpoint of the group.
mod refresh;

use hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::TokioResolver;
pub use refresh::Refresher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// `[global.dns]`: where names are looked up and how long an answer is trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsSettings {
    /// Name servers to ask; empty = those of `/etc/resolv.conf`.
    pub servers: Vec<SocketAddr>,
    /// An answer is asked again no sooner than this, whatever its TTL (a TTL of 0 would
    /// otherwise mean asking all the time)…
    pub min_ttl: Duration,
    /// …and no later than this (a TTL of a day would otherwise hide a move for a day).
    pub max_ttl: Duration,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings { servers: Vec::new(), min_ttl: Duration::from_secs(1), max_ttl: Duration::from_secs(300) }
    }
}

/// What a lookup of one name found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The name's addresses (possibly none: the name exists no more, or has no address),
    /// sorted, and when to ask again.
    Addresses(Vec<IpAddr>, Instant),
    /// No answer (the name servers failed or did not reply): keep what was known.
    Failed(String),
}

impl DnsSettings {
    /// A resolver that asks for A and AAAA records together, and reads `/etc/hosts` first.
    pub fn resolver(&self) -> Result<TokioResolver, String> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = if self.servers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| format!("cannot read /etc/resolv.conf: {e}"))?
        } else {
            let mut config = ResolverConfig::from_parts(None, Vec::new(), Vec::new());
            for server in &self.servers {
                let mut ns = NameServerConfig::udp_and_tcp(server.ip());
                for connection in &mut ns.connections {
                    connection.port = server.port();
                }
                config.add_name_server(ns);
            }
            TokioResolver::builder_with_config(config, provider)
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        builder.build().map_err(|e| format!("cannot build a DNS resolver: {e}"))
    }

    /// Looks `host` up and says when to look again.
    pub async fn lookup(&self, resolver: &TokioResolver, host: &str) -> Answer {
        match resolver.lookup_ip(host).await {
            Ok(found) => {
                let mut addrs: Vec<IpAddr> = found.iter().collect();
                addrs.sort();
                addrs.dedup();
                Answer::Addresses(addrs, self.next_lookup(found.valid_until()))
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                Answer::Addresses(Vec::new(), Instant::now() + self.retry_after())
            }
            Err(e) => Answer::Failed(e.to_string()),
        }
    }

    /// When an answer valid until `valid_until` should be asked again, within the bounds.
    fn next_lookup(&self, valid_until: Instant) -> Instant {
        let now = Instant::now();
        now + valid_until.saturating_duration_since(now).clamp(self.min_ttl, self.max_ttl.max(self.min_ttl))
    }

    /// How soon to ask again after a failed or empty lookup.
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(5).clamp(self.min_ttl, self.max_ttl.max(self.min_ttl))
    }

    /// Looks these names up now, all at once, from a thread of its own (so that it can be
    /// called from anywhere, inside an async runtime or not): for loading a config.
    pub fn resolve_now(&self, hosts: &[String]) -> Vec<Result<Vec<IpAddr>, String>> {
        if hosts.is_empty() {
            return Vec::new();
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    let runtime = match runtime {
                        Ok(rt) => rt,
                        Err(e) => return hosts.iter().map(|_| Err(format!("cannot look names up: {e}"))).collect(),
                    };
                    runtime.block_on(async {
                        let resolver = match self.resolver() {
                            Ok(r) => r,
                            Err(e) => return hosts.iter().map(|_| Err(e.clone())).collect(),
                        };
                        let mut lookups = tokio::task::JoinSet::new();
                        for (i, host) in hosts.iter().enumerate() {
                            let (settings, resolver, host) = (self.clone(), resolver.clone(), host.clone());
                            lookups.spawn(async move { (i, settings.lookup(&resolver, &host).await) });
                        }
                        let mut found = vec![Err("the DNS lookup failed".to_string()); hosts.len()];
                        while let Some(Ok((i, answer))) = lookups.join_next().await {
                            found[i] = match answer {
                                Answer::Addresses(addrs, _) if addrs.is_empty() => {
                                    Err("the name has no address (no A or AAAA record)".into())
                                }
                                Answer::Addresses(addrs, _) => Ok(addrs),
                                Answer::Failed(why) => Err(format!("cannot resolve: {why}")),
                            };
                        }
                        found
                    })
                })
                .join()
                .unwrap_or_else(|_| hosts.iter().map(|_| Err("the DNS lookup failed".into())).collect())
        })
    }
}
