//! `[upstream.NAME]` → [`UpstreamGroup`].
use super::Ctx;
use crate::diagnostic::closest;
use crate::model::{Global, ServerCfg, UpstreamCfg};
use forecourt_proxy::metrics::metrics;
use forecourt_upstream::{Algorithm, Endpoint, HashKey, Protocol, UpstreamGroup, UpstreamTimeouts};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

const BALANCERS: [&str; 5] = ["round_robin", "random", "first", "ip_hash", "hash"];

pub fn compile(
    cx: &mut Ctx<'_>,
    cfg: &BTreeMap<String, UpstreamCfg>,
    global: &Global,
) -> BTreeMap<String, Arc<UpstreamGroup>> {
    let t = &global.timeouts;
    let defaults = UpstreamTimeouts {
        connect: cx.duration(&t.upstream_connect, Duration::from_secs(5)),
        response_header: cx.duration(&t.upstream_header, Duration::from_secs(60)),
        idle: cx.duration(&t.upstream_idle, Duration::from_secs(60)),
        max_idle: 256,
    };
    let mut out = BTreeMap::new();
    for (name, u) in cfg {
        if let Some(group) = group(cx, name, u, &defaults) {
            out.insert(name.clone(), Arc::new(group));
        }
    }
    out
}

fn group(cx: &mut Ctx<'_>, name: &str, u: &UpstreamCfg, defaults: &UpstreamTimeouts) -> Option<UpstreamGroup> {
    let algorithm = algorithm(cx, name, u);
    let protocol = match u.protocol.as_ref().map(|p| (p, p.get_ref().as_str())) {
        None | Some((_, "http1")) => Protocol::Http1,
        Some((_, "h2c")) => Protocol::H2c,
        Some((p, other)) => {
            cx.error(
                p,
                format!("unknown protocol `{other}` in upstream `{name}`"),
                Some("use \"http1\" or \"h2c\"".into()),
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
    if u.servers.get_ref().is_empty() {
        cx.error(
            &u.servers,
            format!("upstream `{name}` has no servers"),
            Some("servers = [\"127.0.0.1:3000\"]".into()),
        );
        return None;
    }
    let mut endpoints = Vec::new();
    for server in u.servers.get_ref() {
        let (addr, weight) = match server {
            ServerCfg::Addr(a) => (a.as_str(), 1),
            ServerCfg::Full { addr, weight } => (addr.as_str(), *weight),
        };
        match resolve(addr) {
            Ok(sock) => endpoints.push(Endpoint {
                addr: sock,
                label: addr.to_string(),
                weight,
                stats: metrics().endpoint(name, addr),
            }),
            Err(e) => cx.error(
                &u.servers,
                format!("server `{addr}` in upstream `{name}`: {e}"),
                Some("write HOST:PORT, e.g. \"10.0.0.1:8080\"".into()),
            ),
        }
    }
    (endpoints.len() == u.servers.get_ref().len()).then(|| {
        UpstreamGroup::new(name.to_string(), endpoints, &algorithm.unwrap_or(Algorithm::RoundRobin), protocol, timeouts)
    })
}

/// `balance` and, for `hash`, its `key`. `None` after an error (reported).
fn algorithm(cx: &mut Ctx<'_>, name: &str, u: &UpstreamCfg) -> Option<Algorithm> {
    let Some(b) = &u.balance else {
        if let Some(key) = &u.key {
            cx.error(key, format!("`key` in upstream `{name}` needs balance = \"hash\""), None);
            return None;
        }
        return Some(Algorithm::RoundRobin);
    };
    let algorithm = match b.get_ref().as_str() {
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

/// An address, or a name resolved now (at load and reload), first address wins.
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let addr = addr.strip_prefix("http://").unwrap_or(addr).trim_end_matches('/');
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    if !addr.contains(':') {
        return Err("missing port".into());
    }
    addr.to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| "resolves to no address".into())
}
