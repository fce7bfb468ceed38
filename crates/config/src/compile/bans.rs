//! `[bans]` compiled: the process's bans (`forecourt_edge::bans`) with this config's rules,
//! the filter that goes first on the front chain, and the check each listener makes at
//! accept. A rule that a reload keeps as it was keeps its strikes; the bans themselves
//! outlive every reload, and restarts through `data_dir`.
use super::lists::{pick, ListTable};
use super::Ctx;
use crate::model::{BanRuleCfg, BansCfg};
use forecourt_edge::bans::{BanFilter, Bans, Rule, RuleSpec, Trigger};
use forecourt_edge::lists::IpList;
use forecourt_proxy::answers::Reason;
use forecourt_proxy::h2_abuse::Cutoff;
use forecourt_redis::Redis;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The bans of a config that has `[bans]`.
pub struct BanSetup {
    pub bans: Arc<Bans>,
    rules: Vec<Arc<Rule>>,
    /// Lists whose clients no rule bans.
    exempt: Vec<Arc<IpList>>,
    ipv6_prefix: u8,
    duration: Duration,
    /// Where bans are shared (`[redis]`).
    redis: Option<Arc<Redis>>,
    /// Where they are kept for the next start (`data_dir`'s `bans`); with `[redis]`, a copy
    /// that holds only until Redis first answers (the registry's `provisional`).
    keep: Option<PathBuf>,
}

pub fn compile(
    cx: &mut Ctx<'_>,
    model: Option<&BansCfg>,
    lists: &ListTable,
    redis: Option<&Arc<Redis>>,
    data_dir: &Path,
) -> Option<BanSetup> {
    let model = model?;
    let exempt = pick(cx, &model.exempt, lists);
    let bans = cx.state.services.get::<Bans>().unwrap_or_default();
    let duration = cx.positive_duration(&model.duration, Duration::from_secs(600));
    let ipv6_prefix = cx.number_in(&model.ipv6_prefix, 0..=128, 64) as u8;
    let max_keys = cx.number_in(&model.max_keys, 1_000..=100_000_000, 100_000) as usize;
    let mut rules = Vec::new();
    for (name, rule) in &model.rules {
        if let Some(spec) = rule_spec(cx, rule.get_ref(), duration, max_keys) {
            rules.push(bans.prepare(name, spec));
        }
    }
    Some(BanSetup {
        bans,
        rules,
        exempt,
        ipv6_prefix,
        duration,
        redis: redis.cloned(),
        keep: Some(data_dir.join("bans")),
    })
}

fn rule_spec(cx: &mut Ctx<'_>, c: &BanRuleCfg, default: Duration, max_keys: usize) -> Option<RuleSpec> {
    let mut on = Vec::new();
    for entry in &c.on {
        match Trigger::parse(entry.get_ref()) {
            Ok(Trigger::Answer(reason)) if !known_reason(&reason) => {
                let known: Vec<&str> = triggers().collect();
                let hint = format!("write status:404, status:4xx, or one of: {}", known.join(", "));
                cx.error(entry, format!("unknown answer `{reason}`"), Some(hint));
            }
            Ok(trigger) => on.push(trigger),
            Err(e) => cx.error(entry, e, None),
        }
    }
    if c.on.is_empty() {
        cx.error(&c.count, "a rule needs `on`: the answers that count against a client", None);
    }
    let count = cx.number_in(&Some(c.count.clone()), 1..=1_000_000, 1) as u32;
    let window = cx.positive_duration(&Some(c.window.clone()), Duration::from_secs(60));
    let duration = cx.positive_duration(&c.duration, default);
    (on.len() == c.on.len() && !on.is_empty()).then_some(RuleSpec {
        on,
        count,
        window,
        duration,
        max_keys,
        dry_run: c.dry_run,
    })
}

/// A local answer's reason (but `banned`: a ban does not strike itself), or an HTTP/2
/// cutoff's cause.
fn known_reason(name: &str) -> bool {
    triggers().any(|t| t == name)
}

fn triggers() -> impl Iterator<Item = &'static str> {
    let answers = Reason::ALL.iter().map(|r| r.name()).filter(|n| *n != Reason::Banned.name());
    answers.chain(Cutoff::ALL.iter().map(|c| c.trigger()))
}

/// The front chain's ban filter.
pub fn filter(setup: Option<&BanSetup>) -> Option<BanFilter> {
    setup.map(|s| BanFilter { bans: s.bans.clone(), rules: s.rules.clone(), exempt: s.exempt.clone() })
}

/// After a config compiled whole: its rules are the running ones, and the admin API may
/// add bans (or may not, once `[bans]` is gone).
pub fn commit(cx: &Ctx<'_>, setup: Option<&BanSetup>) {
    match setup {
        Some(s) => {
            s.bans.commit(s.rules.clone(), s.ipv6_prefix, s.duration, s.redis.clone(), s.keep.clone());
            cx.state.services.set(s.bans.clone());
        }
        None => {
            if let Some(bans) = cx.state.services.get::<Bans>() {
                bans.disable();
            }
        }
    }
}
