//! `[upstream.NAME]` → [`UpstreamGroup`].
use super::Ctx;
use crate::diagnostic::closest;
use crate::model::{DnsCfg, Global, ServerCfg, UpstreamCfg};
use forecourt_upstream::dns::DnsSettings;
use forecourt_upstream::{
    Algorithm, HashKey, Protocol, Resolved, ServerSpec, ServerTarget, UpstreamGroup, UpstreamTimeouts,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

const BALANCERS: [&str; 8] = ["p2c_ewma", "round_robin", "least_conn", "random", "first", "ip_hash", "hash", "cookie"];

/// `[global.dns]`.
pub fn dns_settings(cx: &mut Ctx<'_>, cfg: &DnsCfg) -> DnsSettings {
    let d = DnsSettings::default();
    let mut servers = Vec::new();
    for entry in &cfg.servers {
        let text = entry.get_ref();
        let addr = text.parse::<SocketAddr>().or_else(|_| text.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()));
        match addr {
            Ok(a) => servers.push(a),
            Err(_) => cx.error(
                entry,
                format!("bad DNS server `{text}`"),
                Some("write an address, with a port if not 53: \"10.0.0.2\" or \"127.0.0.1:5353\"".into()),
            ),
        }
    }
    let min_ttl = cx.duration(&cfg.min_ttl, d.min_ttl);
    // A shorter floor would let a name served with TTL 0 be asked again as soon as it is
    // answered: a loop on the name servers, for nothing a second's wait would lose.
    if let Some(at) = cfg.min_ttl.as_ref().filter(|_| min_ttl < Duration::from_secs(1)) {
        cx.error(at, "min_ttl is at least 1s", Some("a name is asked again at most once a second".into()));
    }
    let max_ttl = cx.duration(&cfg.max_ttl, d.max_ttl);
    if let Some(at) = cfg.max_ttl.as_ref().filter(|_| max_ttl < min_ttl) {
        cx.error(at, "max_ttl is shorter than min_ttl", None);
    }
    DnsSettings { servers, min_ttl, max_ttl }
}

/// The compiled upstreams, and the names of every `[upstream.NAME]`, compiled or not.
pub struct UpstreamTable {
    pub groups: BTreeMap<String, Arc<UpstreamGroup>>,
    defined: BTreeSet<String>,
}

impl UpstreamTable {
    /// The group a route (or a split, or a mirror) names. One that is not defined is an
    /// error with a hint; one that is defined but did not compile was reported already,
    /// with its own error.
    pub fn named(&self, cx: &mut Ctx<'_>, u: &Spanned<String>, route: &str) -> Option<Arc<UpstreamGroup>> {
        if let Some(group) = self.groups.get(u.get_ref()) {
            return Some(group.clone());
        }
        if self.defined.contains(u.get_ref()) {
            return None;
        }
        let hint = match closest(u.get_ref(), self.defined.iter().map(String::as_str)) {
            Some(c) => format!("did you mean `{c}`?"),
            None if self.defined.is_empty() => "define it with an [upstream.NAME] table".to_string(),
            None => format!("defined upstreams: {}", self.defined.iter().cloned().collect::<Vec<_>>().join(", ")),
        };
        cx.error(u, format!("route `{route}` names unknown upstream `{}`", u.get_ref()), Some(hint));
        None
    }
}

pub fn compile(
    cx: &mut Ctx<'_>,
    cfg: &BTreeMap<String, UpstreamCfg>,
    global: &Global,
    dns: &DnsSettings,
) -> UpstreamTable {
    let t = &global.timeouts;
    let defaults = UpstreamTimeouts {
        connect: cx.duration(&t.upstream_connect, Duration::from_secs(5)),
        response_header: cx.duration(&t.upstream_header, Duration::from_secs(60)),
        idle: cx.duration(&t.upstream_idle, Duration::from_secs(60)),
        max_idle: 256,
    };
    let servers: BTreeMap<&str, Option<(Vec<ServerSpec>, bool)>> =
        cfg.iter().map(|(name, u)| (name.as_str(), servers(cx, name, u))).collect();
    let answers = lookup_names(dns, servers.values().flatten().flat_map(|(specs, _)| specs));
    let mut out = BTreeMap::new();
    for (name, u) in cfg {
        let Some(Some((specs, https))) = servers.get(name.as_str()) else { continue };
        let mut resolved = Resolved::new();
        for spec in specs {
            let ServerTarget::Name { host, .. } = &spec.target else { continue };
            match &answers[host] {
                Ok(addrs) => {
                    resolved.insert(host.clone(), addrs.clone());
                }
                Err(why) => cx.error(&u.servers, format!("server `{}` in upstream `{name}`: {why}", spec.label), None),
            }
        }
        if let Some(group) = group(cx, name, u, (specs.clone(), *https), resolved, &defaults) {
            out.insert(name.clone(), Arc::new(group));
        }
    }
    UpstreamTable { groups: out, defined: cfg.keys().cloned().collect() }
}

/// Every name among these servers, looked up now, all at once.
fn lookup_names<'a>(
    dns: &DnsSettings,
    specs: impl Iterator<Item = &'a ServerSpec>,
) -> HashMap<String, Result<Vec<std::net::IpAddr>, String>> {
    let mut hosts: Vec<String> = specs
        .filter_map(|s| match &s.target {
            ServerTarget::Name { host, .. } => Some(host.clone()),
            ServerTarget::Addr(_) => None,
        })
        .collect();
    hosts.sort();
    hosts.dedup();
    let answers = dns.resolve_now(&hosts);
    hosts.into_iter().zip(answers).collect()
}

/// The `servers` of one upstream and whether they speak TLS (`https://`), or `None`
/// after an error (reported).
fn servers(cx: &mut Ctx<'_>, name: &str, u: &UpstreamCfg) -> Option<(Vec<ServerSpec>, bool)> {
    if u.servers.get_ref().is_empty() {
        cx.error(
            &u.servers,
            format!("upstream `{name}` has no servers"),
            Some("servers = [\"127.0.0.1:3000\"]".into()),
        );
        return None;
    }
    let mut specs: Vec<ServerSpec> = Vec::new();
    let mut schemes = Vec::new();
    for ServerCfg { addr, weight, backup, max_conns } in u.servers.get_ref() {
        if specs.iter().any(|s| &s.label == addr) {
            cx.error(&u.servers, format!("server `{addr}` appears twice in upstream `{name}`"), None);
            continue;
        }
        match target(addr) {
            Ok((target, https)) => {
                schemes.push(https);
                specs.push(ServerSpec {
                    label: addr.clone(),
                    target,
                    weight: *weight,
                    backup: *backup,
                    max_conns: *max_conns,
                    tls: None,
                })
            }
            Err(e) => cx.error(
                &u.servers,
                format!("server `{addr}` in upstream `{name}`: {e}"),
                Some("write HOST:PORT, e.g. \"10.0.0.1:8080\" or \"app.internal:8080\"".into()),
            ),
        }
    }
    if schemes.iter().any(|&h| h != schemes[0]) {
        let hint = "one upstream speaks one protocol: make them all http:// or all https://";
        cx.error(&u.servers, format!("upstream `{name}` mixes http:// and https:// servers"), Some(hint.into()));
        return None;
    }
    (specs.len() == u.servers.get_ref().len()).then(|| (specs, schemes.first() == Some(&true)))
}

fn group(
    cx: &mut Ctx<'_>,
    name: &str,
    u: &UpstreamCfg,
    (mut servers, https): (Vec<ServerSpec>, bool),
    resolved: Resolved,
    defaults: &UpstreamTimeouts,
) -> Option<UpstreamGroup> {
    let algorithm = algorithm(cx, name, u);
    let protocol = match u.protocol.as_ref().map(|p| (p, p.get_ref().as_str())) {
        None | Some((_, "http1")) => Protocol::Http1,
        // HTTP/2: over TLS by ALPN for https:// servers, with prior knowledge otherwise.
        Some((_, "h2c" | "h2")) => Protocol::H2c,
        Some((p, other)) => {
            cx.error(
                p,
                format!("unknown protocol `{other}` in upstream `{name}`"),
                Some("use \"http1\", \"h2c\" or (with https:// servers) \"h2\"".into()),
            );
            Protocol::Http1
        }
    };
    let timeouts = UpstreamTimeouts {
        connect: cx.duration(&u.connect_timeout, defaults.connect),
        response_header: cx.duration(&u.response_timeout, defaults.response_header),
        idle: cx.duration(&u.keepalive_idle, defaults.idle),
        max_idle: u.keepalive_max.unwrap_or(defaults.max_idle),
    };
    let policies = super::upstream_policies::compile(cx, name, u);
    let tls = super::upstream_tls::compile(cx, name, u, https, protocol, &servers)?;
    for spec in &mut servers {
        spec.tls.clone_from(&tls);
    }
    let algorithm = algorithm?;
    let policies = policies?;
    let registry = &cx.state.upstreams;
    Some(UpstreamGroup::new(registry, name.to_string(), servers, resolved, &algorithm, protocol, timeouts, policies))
}

/// `balance` and, for `hash`, its `key`. `None` after an error (reported).
fn algorithm(cx: &mut Ctx<'_>, name: &str, u: &UpstreamCfg) -> Option<Algorithm> {
    let Some(b) = &u.balance else {
        if let Some(key) = &u.key {
            cx.error(key, format!("`key` in upstream `{name}` needs balance = \"hash\""), None);
            return None;
        }
        if let Some(cookie) = &u.cookie {
            cx.error(cookie, format!("`cookie` in upstream `{name}` needs balance = \"cookie\""), None);
            return None;
        }
        return Some(Algorithm::PeakEwma);
    };
    if let Some(cookie) = u.cookie.as_ref().filter(|_| b.get_ref() != "cookie") {
        cx.error(cookie, format!("`cookie` in upstream `{name}` needs balance = \"cookie\""), None);
        return None;
    }
    let algorithm = match b.get_ref().as_str() {
        "p2c_ewma" => Algorithm::PeakEwma,
        "least_conn" => Algorithm::LeastConn,
        "cookie" => {
            let cookie = u.cookie.as_ref().map_or("forecourt_affinity", |c| c.get_ref().as_str());
            if cookie.is_empty() || !cookie.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
                let at = u.cookie.as_ref().unwrap_or(b);
                cx.error(at, format!("`{cookie}` is not a cookie name (upstream `{name}`)"), None);
                return None;
            }
            let ttl = cx.duration(&u.cookie_ttl, std::time::Duration::from_secs(3600));
            Algorithm::Cookie { name: cookie.to_string(), ttl }
        }
        "round_robin" => Algorithm::RoundRobin,
        "random" => Algorithm::Random,
        "first" => Algorithm::First,
        "ip_hash" => Algorithm::Hash(HashKey::Ip),
        "hash" => {
            let Some(key) = &u.key else {
                let hint = "add a key source, e.g. key = \"header:X-User\" (or cookie:NAME, query:NAME, uri, ip)";
                cx.error(b, format!("balance = \"hash\" in upstream `{name}` has no `key`"), Some(hint.into()));
                return None;
            };
            match HashKey::parse(key.get_ref()) {
                Ok(k) => return Some(Algorithm::Hash(k)),
                Err(why) => {
                    let hint = "header:NAME, cookie:NAME, query:NAME, uri or ip";
                    cx.error(key, format!("{why} (upstream `{name}`)"), Some(hint.into()));
                    return None;
                }
            }
        }
        other => {
            let hint = closest(other, BALANCERS.into_iter())
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("available: {}", BALANCERS.join(", ")));
            cx.error(b, format!("unknown balance `{other}` in upstream `{name}`"), Some(hint));
            return None;
        }
    };
    if let Some(key) = &u.key {
        cx.error(key, format!("`key` in upstream `{name}` needs balance = \"hash\""), None);
        return None;
    }
    Some(algorithm)
}

/// An address, or a name with a port (looked up later); and whether it is `https://`.
fn target(addr: &str) -> Result<(ServerTarget, bool), String> {
    let (addr, https) = match addr.split_once("://") {
        Some(("http", rest)) => (rest, false),
        Some(("https", rest)) => (rest, true),
        Some((scheme, _)) => return Err(format!("unknown scheme `{scheme}://`")),
        None => (addr, false),
    };
    let addr = addr.trim_end_matches('/');
    if let Ok(a) = addr.parse() {
        return Ok((ServerTarget::Addr(a), https));
    }
    let Some((host, port)) = addr.rsplit_once(':') else { return Err("missing port".into()) };
    let port = port.parse::<u16>().map_err(|_| format!("bad port `{port}`"))?;
    let is_name = |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !is_name(host) {
        return Err(format!("`{host}` is neither an address nor a host name"));
    }
    Ok((ServerTarget::Name { host: host.to_ascii_lowercase(), port }, https))
}
