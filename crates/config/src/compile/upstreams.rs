//! `[upstream.NAME]` → [`UpstreamGroup`].
use super::Ctx;
use crate::diagnostic::closest;
use crate::model::{Global, ServerCfg, UpstreamCfg};
use forecourt_proxy::metrics::metrics;
use forecourt_upstream::{Endpoint, Protocol, UpstreamGroup, UpstreamTimeouts};
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

const BALANCERS: [&str; 1] = ["round_robin"];

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
    if let Some(b) = &u.balance {
        if !BALANCERS.contains(&b.get_ref().as_str()) {
            let hint = closest(b.get_ref(), BALANCERS.into_iter())
                .map(|c| format!("did you mean `{c}`?"))
                .unwrap_or_else(|| format!("available: {}", BALANCERS.join(", ")));
            cx.error(b, format!("unknown balance `{}` in upstream `{name}`", b.get_ref()), Some(hint));
        }
    }
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
        if weight == 0 {
            cx.error(
                &u.servers,
                format!("server `{addr}` in upstream `{name}` has weight 0"),
                Some("weights start at 1".into()),
            );
            continue;
        }
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
    (endpoints.len() == u.servers.get_ref().len())
        .then(|| UpstreamGroup::new(name.to_string(), endpoints, protocol, timeouts))
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
