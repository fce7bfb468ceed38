//! `[limits.NAME]` compiled into the process's limits (`forecourt_edge::limits`), and the
//! filters that apply them: a route's `limits = [...]`, and `[global] limits` on the
//! front chain. A limit that a reload keeps as it was keeps its buckets; the registry
//! learns the new set only once the whole config has compiled.
use super::lists::{pick, ListTable};
use super::Ctx;
use crate::model::LimitCfg;
use forecourt_edge::challenge::Gate;
use forecourt_edge::limits::{Action, AppliedLimit, KeySpec, Limit, LimitSpec, Rate, RateLimitFilter, Registry};
use forecourt_edge::lists::IpList;
use forecourt_redis::Redis;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use toml::Spanned;

/// The configured limits, by name.
#[derive(Default)]
pub struct LimitTable {
    registry: Option<Arc<Registry>>,
    /// Each limit, and the lists of clients it does not count.
    by_name: BTreeMap<String, (Arc<Limit>, Vec<Arc<IpList>>)>,
    /// For limits whose action is `challenge`.
    gate: Option<Arc<Gate>>,
    /// Limits defined with a mistake (said where it is): a route naming one is not told
    /// that no such limit exists.
    mistaken: BTreeSet<String>,
}

pub fn compile(
    cx: &mut Ctx<'_>,
    model: &BTreeMap<String, Spanned<LimitCfg>>,
    lists: &ListTable,
    redis: Option<&Arc<Redis>>,
    gate: Option<&Arc<Gate>>,
) -> LimitTable {
    if model.is_empty() {
        return LimitTable::default();
    }
    let registry = cx.state.services.get::<Registry>().unwrap_or_default();
    let (mut by_name, mut mistaken) = (BTreeMap::new(), BTreeSet::new());
    for (name, cfg) in model {
        let exempt = pick(cx, &cfg.get_ref().exempt, lists);
        match (spec(cx, cfg.get_ref()), store(cx, cfg.get_ref(), redis)) {
            (Some(spec), Ok(shared)) => {
                by_name.insert(name.clone(), (registry.prepare(name, spec, shared), exempt));
            }
            _ => {
                mistaken.insert(name.clone());
            }
        }
    }
    LimitTable { registry: Some(registry), by_name, gate: gate.cloned(), mistaken }
}

fn spec(cx: &mut Ctx<'_>, c: &LimitCfg) -> Option<LimitSpec> {
    let rate = Rate::parse(c.rate.get_ref()).map_err(|e| cx.error(&c.rate, format!("bad rate: {e}"), None)).ok();
    let burst = cx.number_in(&c.burst, 0..=1_000_000, 0) as u64;
    let ipv6_prefix = cx.number_in(&c.ipv6_prefix, 0..=128, 64) as u8;
    let max_keys = cx.number_in(&c.max_keys, 1_000..=100_000_000, 1_000_000) as usize;
    let key = match &c.key {
        None => KeySpec::parse("ip", ipv6_prefix).ok(),
        Some(k) => KeySpec::parse(k.get_ref(), ipv6_prefix).map_err(|e| cx.error(k, e, None)).ok(),
    };
    let action = match c.action.as_ref().map(|a| (a, a.get_ref().as_str())) {
        None | Some((_, "reject")) => Some(Action::Reject),
        Some((_, "delay")) => Some(Action::Delay),
        // `[challenge]` (or its defaults) exists whenever a limit's action is "challenge".
        Some((_, "challenge")) => Some(Action::Challenge),
        Some((at, other)) => {
            let hint = "use \"reject\", \"delay\" or \"challenge\"";
            cx.error(at, format!("unknown action `{other}`"), Some(hint.into()));
            None
        }
    };
    Some(LimitSpec { key: key?, rate: rate?, burst, action: action?, max_keys, dry_run: c.dry_run })
}

/// Where a limit's buckets live: `Ok(None)` here, `Ok(Some)` in Redis.
fn store(cx: &mut Ctx<'_>, c: &LimitCfg, redis: Option<&Arc<Redis>>) -> Result<Option<Arc<Redis>>, ()> {
    match c.store.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "local")) => Ok(None),
        Some((_, "redis")) if redis.is_some() => Ok(redis.cloned()),
        Some((at, "redis")) => {
            cx.error(at, "store \"redis\" needs [redis]", Some("add [redis] with url = \"redis://HOST:PORT\"".into()));
            Err(())
        }
        Some((at, other)) => {
            cx.error(at, format!("unknown store `{other}`"), Some("use \"local\" or \"redis\"".into()));
            Err(())
        }
    }
}

/// The filter that applies `names` (each must be a `[limits.NAME]`), if any.
pub fn filter(cx: &mut Ctx<'_>, names: &[Spanned<String>], table: &LimitTable, route: &str) -> Option<RateLimitFilter> {
    let mut limits = Vec::new();
    for name in names {
        match table.by_name.get(name.get_ref()) {
            Some((limit, exempt)) => limits.push(AppliedLimit { limit: limit.clone(), exempt: exempt.clone() }),
            None if table.mistaken.contains(name.get_ref()) => {}
            None => {
                let known: Vec<&str> = table.by_name.keys().map(String::as_str).collect();
                let hint = if known.is_empty() {
                    "no [limits.NAME] is defined".into()
                } else {
                    format!("defined: {}", known.join(", "))
                };
                cx.error(name, format!("unknown limit `{}`", name.get_ref()), Some(hint));
            }
        }
    }
    (!limits.is_empty()).then(|| RateLimitFilter { limits, route: route.into(), gate: table.gate.clone() })
}

/// After a config compiled whole: the registry holds its limits (for `/metrics` and the
/// next reload).
pub fn commit(cx: &Ctx<'_>, table: &LimitTable) {
    if let Some(registry) = table.registry.clone().or_else(|| cx.state.services.get::<Registry>()) {
        registry.commit(table.by_name.values().map(|(limit, _)| limit.clone()).collect());
        cx.state.services.set(registry);
    }
}
