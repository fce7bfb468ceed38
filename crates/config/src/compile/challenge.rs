//! `[challenge]` compiled: the gate (who is challenged, the page, the endpoints) over the
//! process's keys and counters, the front chain's filter, a route's `challenge = true`,
//! and the gate that limits with `action = "challenge"` use. A config that uses a
//! challenge without a `[challenge]` table gets the defaults.
use super::lists::{pick, ListTable};
use super::Ctx;
use crate::model::{ChallengeCfg, ChallengeRuleCfg, ConfigFile};
use forecourt_edge::challenge::{ChallengeFilter, Challenges, Gate, GateSpec, NoJs, Rule};
use forecourt_redis::Redis;
use forecourt_upstream::token::is_token;
use http::header::HeaderName;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub struct ChallengeSetup {
    pub gate: Arc<Gate>,
    rotate: Duration,
    under_attack: bool,
    redis: Option<Arc<Redis>>,
    /// Where the secret and the API's switch are kept for the next start (`data_dir`).
    keep: PathBuf,
}

pub fn compile(
    cx: &mut Ctx<'_>,
    model: &ConfigFile,
    lists: &ListTable,
    redis: Option<&Arc<Redis>>,
    data_dir: &Path,
) -> Option<ChallengeSetup> {
    let used = model.route.iter().any(|r| r.challenge.as_ref().is_some_and(|c| *c.get_ref()))
        || model.limits.values().any(|l| l.get_ref().action.as_ref().is_some_and(|a| a.get_ref() == "challenge"));
    let defaults = ChallengeCfg::default();
    let c = match &model.challenge {
        Some(c) => c.get_ref(),
        None if used => &defaults,
        None => return None,
    };
    let pass_for = positive(cx, &c.pass_for, Duration::from_secs(3600), 30 * 86_400);
    let rotate = positive(cx, &c.rotate, Duration::from_secs(3600), 30 * 86_400);
    let solve_within = positive(cx, &c.solve_within, Duration::from_secs(300), 86_400);
    let no_js = match c.no_js.as_ref().map(|v| (v, v.get_ref().as_str())) {
        None | Some((_, "wait")) => NoJs::Wait(positive(cx, &c.no_js_wait, Duration::from_secs(5), 3600)),
        Some((_, "deny")) => NoJs::Deny,
        Some((at, other)) => {
            cx.error(at, format!("unknown no_js `{other}`"), Some("use \"wait\" or \"deny\"".into()));
            NoJs::Deny
        }
    };
    let cookie = c.cookie.as_ref().map_or("forecourt_pass".to_owned(), |n| n.get_ref().clone());
    if let Some(at) = c.cookie.as_ref().filter(|n| !is_token(n.get_ref())) {
        cx.error(at, "a cookie name is letters, digits and `-_.!#$%&'*+^`|~`", None);
    }
    let mut exempt = Vec::new();
    for p in &c.exempt {
        match p.get_ref().starts_with('/') {
            true => exempt.push(p.get_ref().clone()),
            false => cx.error(p, "an exempt path starts with `/`", None),
        }
    }
    let rules = c.rules.iter().filter_map(|(name, r)| rule(cx, name, r, lists)).collect();
    let spec = GateSpec {
        difficulty: cx.number_in(&c.difficulty, 1..=32, 16) as u8,
        pass_for,
        solve_within,
        cookie,
        no_js,
        exempt,
        exempt_clients: pick(cx, &c.exempt_clients, lists),
        ipv6_prefix: cx.number_in(&c.ipv6_prefix, 0..=128, 64) as u8,
        rules,
    };
    let state = cx.state.services.get::<Challenges>().unwrap_or_default();
    let under_attack = c.under_attack.as_ref().is_some_and(|u| *u.get_ref());
    let keep = data_dir.to_path_buf();
    Some(ChallengeSetup { gate: Arc::new(Gate { spec, state }), rotate, under_attack, redis: redis.cloned(), keep })
}

fn rule(cx: &mut Ctx<'_>, name: &str, r: &Spanned<ChallengeRuleCfg>, lists: &ListTable) -> Option<Rule> {
    let c = r.get_ref();
    if c.lists.is_empty() && c.user_agent.is_none() && c.missing_headers.is_empty() {
        let hint = "give it lists, user_agent or missing_headers (or set under_attack to challenge everyone)";
        cx.error(r, format!("challenge rule `{name}` names no signal"), Some(hint.into()));
        return None;
    }
    let user_agent = match &c.user_agent {
        None => None,
        Some(p) => match regex::Regex::new(p.get_ref()) {
            Ok(re) => Some(re),
            Err(e) => {
                cx.error(p, format!("bad regular expression: {e}"), None);
                return None;
            }
        },
    };
    let mut missing_headers = Vec::new();
    for h in &c.missing_headers {
        match HeaderName::from_bytes(h.get_ref().as_bytes()) {
            Ok(name) => missing_headers.push(name),
            Err(_) => cx.error(h, format!("`{}` is not a header name", h.get_ref()), None),
        }
    }
    Some(Rule { name: name.to_owned(), lists: pick(cx, &c.lists, lists), user_agent, missing_headers })
}

fn positive(cx: &mut Ctx<'_>, v: &Option<Spanned<String>>, default: Duration, most_secs: u64) -> Duration {
    let d = cx.duration(v, default);
    if let Some(at) = v {
        if d.as_secs() < 1 || d.as_secs() > most_secs {
            cx.error(at, format!("must be between 1s and {most_secs}s"), None);
        }
    }
    d
}

/// The front chain's filter: the endpoints, the rules and the "under attack" switch.
pub fn front_filter(setup: Option<&ChallengeSetup>) -> Option<ChallengeFilter> {
    setup.map(|s| ChallengeFilter { gate: s.gate.clone(), always: false })
}

/// A route's `challenge = true`.
pub fn route_filter(on: Option<&Spanned<bool>>, setup: Option<&ChallengeSetup>) -> Option<ChallengeFilter> {
    match (on.map(|o| *o.get_ref()), setup) {
        (Some(true), Some(s)) => Some(ChallengeFilter { gate: s.gate.clone(), always: true }),
        _ => None,
    }
}

/// After a config compiled whole: its key period and switch are the running ones.
pub fn commit(cx: &Ctx<'_>, setup: Option<&ChallengeSetup>) {
    match setup {
        Some(s) => {
            s.gate.state.commit(s.rotate.as_secs(), s.under_attack, s.redis.clone(), Some(s.keep.clone()));
            cx.state.services.set(s.gate.state.clone());
        }
        None => {
            if let Some(state) = cx.state.services.get::<Challenges>() {
                state.disable();
            }
        }
    }
}
