//! `[upstream.NAME]` → [`UpstreamGroup`].
use super::Ctx;
use crate::diagnostic::closest;
use crate::model::{Global, ServerCfg, UpstreamCfg};
use forecourt_upstream::state::registry;
use forecourt_upstream::{Algorithm, Endpoint, HashKey, Protocol, UpstreamGroup, UpstreamTimeouts};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

const BALANCERS: [&str; 8] = ["p2c_ewma", "round_robin", "least_conn", "random", "first", "ip_hash", "hash", "cookie"];

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
    let policies = super::upstream_policies::compile(cx, name, u);
    let mut endpoints = Vec::new();
    for server in u.servers.get_ref() {
        let ServerCfg { addr, weight, backup, max_conns } = server;
        if endpoints.iter().any(|e: &Endpoint| &e.label == addr) {
            cx.error(&u.servers, format!("server `{addr}` appears twice in upstream `{name}`"), None);
            continue;
        }
        match resolve(addr) {
            Ok(sock) => {
                let mut ep = Endpoint::new(sock, addr.to_string(), *weight, registry().endpoint(name, addr));
                ep.backup = *backup;
                ep.max_conns = *max_conns;
                endpoints.push(ep);
            }
            Err(e) => cx.error(
                &u.servers,
                format!("server `{addr}` in upstream `{name}`: {e}"),
                Some("write HOST:PORT, e.g. \"10.0.0.1:8080\"".into()),
            ),
        }
    }
    let algorithm = algorithm?;
    let policies = policies?;
    (endpoints.len() == u.servers.get_ref().len())
        .then(|| UpstreamGroup::new(name.to_string(), endpoints, &algorithm, protocol, timeouts, policies))
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
