//! `[waf.NAME]` compiled: each policy's rules loaded now (a rule file that does not parse
//! is an error at the `rules` key, naming the file, line and rule id; a reload meeting one
//! is refused and the running rules keep serving), and each route's `waf` filter: its own
//! policy, else `[global] waf`'s, unless it says "off".
use super::lists::{pick, ListTable};
use super::Ctx;
use crate::model::{RouteCfg, RuleIds, WafCfg};
use forecourt_edge::waf::{
    AuditLog, Engines, ExcludedRules, Exclusion, Mode, OverLimit, UploadRoom, WafCounters, WafFilter, WafPolicy,
    WafSettings,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// Every `[waf.NAME]`: its policy, or `None` when it did not compile (reported where it
/// is defined, so that the routes naming it add nothing).
pub type WafTable = BTreeMap<String, Option<Arc<WafPolicy>>>;

pub fn compile(cx: &mut Ctx<'_>, model: &BTreeMap<String, Spanned<WafCfg>>, lists: &ListTable) -> WafTable {
    let counters = cx.state.services.get::<WafCounters>().unwrap_or_default();
    // The process's rulesets: a reload whose rules are unchanged keeps them (set at once:
    // it holds only rulesets some snapshot or policy holds).
    let engines = cx.state.services.get::<Engines>().unwrap_or_else(|| {
        let made = Arc::new(Engines::default());
        cx.state.services.set(made.clone());
        made
    });
    let mut table = WafTable::new();
    for (name, m) in model {
        let policy = policy(cx, name, m, &counters, &engines, lists);
        table.insert(name.clone(), policy.map(Arc::new));
    }
    table
}

fn policy(
    cx: &mut Ctx<'_>,
    name: &str,
    m: &Spanned<WafCfg>,
    counters: &Arc<WafCounters>,
    engines: &Engines,
    lists: &ListTable,
) -> Option<WafPolicy> {
    let c = m.get_ref();
    if c.rules.get_ref().is_empty() {
        cx.error(&c.rules, format!("[waf.{name}] names no rules"), Some(CRS_HINT.into()));
        return None;
    }
    let paranoia_level = cx.number_in(&c.paranoia_level, 1..=4, 1) as u8;
    let anomaly_threshold = cx.number_in(&c.anomaly_threshold, 1..=10_000, 5) as u32;
    let mode = choice(cx, &c.mode, &[("block", Mode::Block), ("detect", Mode::Detect)], Mode::Block);
    let over_limit =
        choice(cx, &c.body_over_limit, &[("reject", OverLimit::Reject), ("pass", OverLimit::Pass)], OverLimit::Reject);
    let block_over_budget = choice(cx, &c.over_budget, &[("block", true), ("pass", false)], true);
    let body_limit = cx.size(&c.request_body_limit).unwrap_or(1 << 20);
    let upload_limit = cx.size(&c.upload_limit).unwrap_or(12_800 << 10);
    let upload_memory = cx.size(&c.upload_memory).unwrap_or(128 << 20);
    let upload_wait = cx.duration(&c.upload_wait, Duration::from_secs(15));
    let budget = cx.duration(&c.inspection_budget, Duration::from_millis(50));
    let response_inspection = c.response_inspection.as_ref().is_some_and(|on| *on.get_ref());
    let response_body_limit = cx.size(&c.response_body_limit).unwrap_or(512 << 10) as usize;
    let exclusions = c.exclusions.iter().filter_map(|e| exclusion(cx, e)).collect();
    let exempt_clients = pick(cx, &c.exempt_clients, lists);
    let audit = c.audit_log.as_ref().and_then(|path| match AuditLog::open(&cx.file_path(path.get_ref())) {
        Ok(log) => Some(Arc::new(log)),
        Err(e) => {
            cx.error(path, format!("cannot open the WAF audit log: {e}"), None);
            None
        }
    });
    let rules = c.rules.get_ref().iter().map(|r| cx.file_path(r.get_ref())).collect();
    let settings = WafSettings { rules, paranoia_level, anomaly_threshold, exclusions };
    if !cx.errors.is_empty() {
        return None; // Loading CRS takes a third of a second: not for a config already refused.
    }
    match engines.get_or_load(name, &settings) {
        Ok(engine) => Some(WafPolicy {
            name: name.to_string(),
            engine,
            mode,
            body_limit,
            upload_limit,
            upload_room: UploadRoom::new(upload_memory, upload_wait),
            over_limit,
            budget,
            block_over_budget,
            audit,
            counters: counters.clone(),
            settings,
            response_inspection,
            response_body_limit,
            exempt_clients,
        }),
        Err(e) => {
            cx.error(&c.rules, format!("[waf.{name}] rules do not load: {}", e.message), None);
            None
        }
    }
}

const CRS_HINT: &str = "rules = [\"/etc/modsecurity/crs/crs-setup.conf\", \"/usr/share/modsecurity-crs/rules/*.conf\"]";

fn choice<T: Copy>(cx: &mut Ctx<'_>, v: &Option<Spanned<String>>, options: &[(&str, T)], default: T) -> T {
    let Some(v) = v else { return default };
    match options.iter().find(|(name, _)| *name == v.get_ref()) {
        Some((_, value)) => *value,
        None => {
            let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
            cx.error(v, format!("unknown value `{}`", v.get_ref()), Some(format!("use {}", names.join(" or "))));
            default
        }
    }
}

fn exclusion(cx: &mut Ctx<'_>, e: &Spanned<crate::model::ExclusionCfg>) -> Option<Exclusion> {
    let c = e.get_ref();
    let rules = match (&c.rule, &c.tag) {
        (Some(rule), None) => rule_ids(cx, rule)?,
        (None, Some(tag)) => rule_tag(cx, tag)?,
        (Some(_), Some(tag)) => {
            cx.error(tag, "an exclusion names its rules by `rule` or by `tag`, not both", None);
            return None;
        }
        (None, None) => {
            let hint = "e.g. { rule = 942100, path = \"/search\" } or { tag = \"attack-sqli\", path = \"/wiki\" }";
            cx.error(e, "an exclusion names its rules: `rule` (an id or a range) or `tag`", Some(hint.into()));
            return None;
        }
    };
    if let Some(path) = c.path.as_ref().filter(|p| !p.get_ref().starts_with('/') || p.get_ref().contains(' ')) {
        cx.error(path, "an exclusion's path starts with `/` and has no spaces", None);
    }
    if let (Some(path), Some(remove)) = (&c.path, &c.remove) {
        if *remove.get_ref() {
            cx.error(path, "`remove = true` takes the rule out everywhere; `path` only there", None);
        }
    }
    if let Some(t) = c.target.as_ref().filter(|t| t.get_ref().is_empty() || t.get_ref().contains(['"', ' ', ','])) {
        cx.error(t, "a target is one variable, such as \"ARGS:q\"", None);
    }
    let target = c.target.as_ref().map(|t| t.get_ref().clone());
    Some(Exclusion { rules, path: c.path.as_ref().map(|p| p.get_ref().clone()), target })
}

/// `rule = 942100` or `rule = "942100-942199"`.
fn rule_ids(cx: &mut Ctx<'_>, rule: &Spanned<RuleIds>) -> Option<ExcludedRules> {
    let ids = match rule.get_ref() {
        RuleIds::One(id) if *id > 0 => Some((*id as u64, *id as u64)),
        RuleIds::Range(text) => text
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?)))
            .filter(|(a, b)| a <= b),
        RuleIds::One(_) => None,
    };
    let Some((first, last)) = ids else {
        cx.error(rule, "bad rule id", Some("write a rule id, 942100, or a range, \"942100-942199\"".into()));
        return None;
    };
    Some(ExcludedRules::Ids { first, last })
}

/// `tag = "attack-sqli"`: one tag as CRS writes them, which goes into a `ctl:` action
/// and a quoted directive as it is.
fn rule_tag(cx: &mut Ctx<'_>, tag: &Spanned<String>) -> Option<ExcludedRules> {
    let text = tag.get_ref();
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control() || "\"',;\\".contains(c)) {
        let hint = "one tag as the rules write it, such as \"attack-sqli\" or \"paranoia-level/2\"";
        cx.error(tag, "a tag has no spaces, quotes, commas or semicolons", Some(hint.into()));
        return None;
    }
    Some(ExcludedRules::Tag(text.clone()))
}

/// The route's `waf` filter: its own policy, else `[global] waf`'s; "off" for none.
pub fn route_filter(
    cx: &mut Ctx<'_>,
    r: &RouteCfg,
    global: Option<&Spanned<String>>,
    table: &WafTable,
) -> Option<WafFilter> {
    let named = r.waf.as_ref().or(global)?;
    if named.get_ref() == "off" {
        return None;
    }
    match table.get(named.get_ref()) {
        Some(Some(policy)) => Some(WafFilter { policy: policy.clone() }),
        Some(None) => None,
        None => {
            let known: Vec<&str> = table.keys().map(|k| k.as_str()).collect();
            let hint = match known.is_empty() {
                true => "define it as [waf.NAME] with rules = [...]".to_string(),
                false => format!("defined: {}", known.join(", ")),
            };
            cx.error(named, format!("unknown WAF policy `{}`", named.get_ref()), Some(hint));
            None
        }
    }
}

/// Makes the counters the process's (for `/metrics`), once the config is accepted.
pub fn commit(cx: &Ctx<'_>, table: &WafTable) {
    if let Some(policy) = table.values().flatten().next() {
        cx.state.services.set(policy.counters.clone());
    }
}
