//! Each listener's checks at accept, in this order: its `allow` / `deny` lists, the bans
//! (`[bans]`), then its connection limits (`max_connections`, `max_connections_per_ip`,
//! `new_connections_per_ip`). Open-connection counts and the refusal counters belong to
//! the process, so that a reload neither forgets who is connected nor resets the counts.
use super::bans::BanSetup;
use super::lists::{pick, ListTable};
use super::Ctx;
use crate::model::{ConfigFile, Listen};
use forecourt_edge::bans::BanAdmission;
use forecourt_edge::connections::{ConnectionLimits, ConnectionSpec, OpenByListener};
use forecourt_edge::limits::Rate;
use forecourt_edge::lists::ListenerLists;
use forecourt_edge::refusals::Refusals;
use forecourt_proxy::admission::Admission;
use std::net::SocketAddr;
use std::sync::Arc;
use toml::Spanned;

/// `listeners` are the addresses compiled from `model.listen`, in order (a bad one is
/// absent, and the config fails anyway).
pub fn compile(
    cx: &mut Ctx<'_>,
    model: &ConfigFile,
    listeners: &[SocketAddr],
    lists: &ListTable,
    bans: Option<&BanSetup>,
) -> Vec<(SocketAddr, Arc<dyn Admission>)> {
    let refusals = service::<Refusals>(cx);
    let open = service::<OpenByListener>(cx);
    let mut out: Vec<(SocketAddr, Arc<dyn Admission>)> = Vec::new();
    for (l, addr) in model.listen.iter().zip(listeners) {
        let (allow, deny) = (pick(cx, &l.allow, lists), pick(cx, &l.deny, lists));
        if !allow.is_empty() || !deny.is_empty() {
            out.push((*addr, Arc::new(ListenerLists { allow, deny, refusals: refusals.clone() })));
        }
        if let Some(setup) = bans {
            out.push((*addr, Arc::new(BanAdmission { bans: setup.bans.clone(), refusals: refusals.clone() })));
        }
        let exempt = pick(cx, &l.per_ip_exempt, lists);
        if let Some(first) = l.per_ip_exempt.first() {
            if l.max_connections_per_ip.is_none() && l.new_connections_per_ip.is_none() {
                let hint = "per_ip_exempt spares clients from max_connections_per_ip and new_connections_per_ip";
                cx.error(first, "per_ip_exempt needs a per-address connection limit", Some(hint.into()));
            }
        }
        if let Some(spec) = connection_spec(cx, l) {
            out.push((*addr, Arc::new(ConnectionLimits::new(spec, exempt, open.of(*addr), refusals.clone()))));
        }
    }
    out
}

/// A process-wide value, made now if this is the first config that needs it (it holds
/// only counts, so making it before the config is known good is harmless).
fn service<T: Default + Send + Sync + 'static>(cx: &Ctx<'_>) -> Arc<T> {
    cx.state.services.get::<T>().unwrap_or_else(|| {
        let made = Arc::new(T::default());
        cx.state.services.set(made.clone());
        made
    })
}

fn connection_spec(cx: &mut Ctx<'_>, l: &Listen) -> Option<ConnectionSpec> {
    let positive = |cx: &mut Ctx<'_>, v: &Option<Spanned<i64>>| -> Option<u64> {
        let v = v.as_ref()?;
        match u64::try_from(*v.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                cx.error(v, "must be a positive number", None);
                None
            }
        }
    };
    let max = positive(cx, &l.max_connections);
    let per_ip = positive(cx, &l.max_connections_per_ip).map(|n| n.min(u64::from(u32::MAX)) as u32);
    let rate_per_ip = l
        .new_connections_per_ip
        .as_ref()
        .and_then(|r| Rate::parse(r.get_ref()).map_err(|e| cx.error(r, format!("bad rate: {e}"), None)).ok());
    (max.is_some() || per_ip.is_some() || rate_per_ip.is_some()).then_some(ConnectionSpec {
        max,
        per_ip,
        rate_per_ip,
        ipv6_prefix: 64,
    })
}
