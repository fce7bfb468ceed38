//! `GET /api/upstreams`: every upstream of the running config with its servers' state;
//! `POST /api/upstreams/NAME/servers/SERVER/drain` (or `/enable`) takes a server out of
//! rotation or puts it back, until the operator says otherwise (reloads keep it).
use forecourt_upstream::state::{flag, now_ns};
use forecourt_upstream::UpstreamGroup;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

pub fn list(groups: &[Arc<UpstreamGroup>]) -> Value {
    let now = now_ns();
    let upstreams: Vec<Value> = groups
        .iter()
        .map(|g| {
            let servers: Vec<Value> = g
                .members()
                .endpoints
                .iter()
                .map(|e| {
                    let s = &e.state;
                    let check = s.last_check().map(|c| {
                        let at = c.at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                        json!({ "ok": c.ok, "detail": c.detail, "at_unix": at })
                    });
                    json!({
                        "server": e.label,
                        "state": s.describe(),
                        "weight": e.weight,
                        "backup": e.backup,
                        "max_conns": e.max_conns,
                        "in_flight": s.in_flight(),
                        "latency_ms": (s.latency_estimate(now) / 1e4).round() / 100.0,
                        "requests": s.requests.load(std::sync::atomic::Ordering::Relaxed),
                        "failures": s.failures.load(std::sync::atomic::Ordering::Relaxed),
                        "retries": s.retries.load(std::sync::atomic::Ordering::Relaxed),
                        "last_check": check,
                    })
                })
                .collect();
            let limits = g.policies.limits.as_ref().map(|l| {
                json!({
                    "max_requests": l.max_requests,
                    "in_progress": g.state.slots.busy(),
                    "queue": l.queue,
                    "queued": g.state.slots.waiting(),
                })
            });
            json!({ "name": g.name, "balance": g.algorithm().name(), "limits": limits, "servers": servers })
        })
        .collect();
    json!({ "upstreams": upstreams })
}

/// `NAME/servers/SERVER/drain` or `.../enable`: `Ok(what was done)` or `Err(why not)`.
pub fn set_drained(groups: &[Arc<UpstreamGroup>], path: &str) -> Result<String, String> {
    let mut parts = path.splitn(3, '/');
    let (Some(name), Some("servers"), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("use /api/upstreams/NAME/servers/SERVER/drain or .../enable".into());
    };
    let Some((server, action)) = rest.rsplit_once('/') else {
        return Err("use /api/upstreams/NAME/servers/SERVER/drain or .../enable".into());
    };
    let group = groups.iter().find(|g| g.name == name).ok_or_else(|| format!("no upstream `{name}`"))?;
    // A server written as a name stands for each of its addresses (`name:port@address`):
    // one of them, or all of them at once.
    let members = group.members();
    let chosen: Vec<_> = members
        .endpoints
        .iter()
        .filter(|e| e.label == server || e.label.strip_prefix(server).is_some_and(|rest| rest.starts_with('@')))
        .collect();
    if chosen.is_empty() {
        return Err(format!("no server `{server}` in `{name}`"));
    }
    let (set, done) = match action {
        "drain" => (true, "draining"),
        "enable" => (false, "enabled"),
        other => return Err(format!("unknown action `{other}`: drain or enable")),
    };
    for ep in chosen {
        if set {
            ep.state.set_flag(flag::DRAINED);
            tracing::warn!(upstream = name, server = %ep.label, "server drained by the admin API");
        } else {
            ep.state.clear_flag(flag::DRAINED);
            tracing::info!(upstream = name, server = %ep.label, "server enabled by the admin API");
        }
    }
    Ok(format!("{name}/{server}: {done}"))
}
