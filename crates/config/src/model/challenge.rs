//! `[challenge]`: proof-of-work challenge pages, and the rules that pick who gets one.
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ChallengeCfg {
    /// Leading zero bits of SHA-256 a solution needs (default 16: about 65,000 hashes,
    /// a fraction of a second in a browser).
    pub difficulty: Option<Spanned<i64>>,
    /// How long a pass lasts (default "1h").
    pub pass_for: Option<Spanned<String>>,
    /// How often the signing key changes (default "1h").
    pub rotate: Option<Spanned<String>>,
    /// How long a puzzle may take to come back solved (default "5m").
    pub solve_within: Option<Spanned<String>>,
    /// The pass cookie's name (default "forecourt_pass").
    pub cookie: Option<Spanned<String>>,
    /// A client without JavaScript: "wait" (default: a meta refresh after `no_js_wait`
    /// earns a pass) or "deny".
    pub no_js: Option<Spanned<String>>,
    /// The no-JavaScript wait (default "5s").
    pub no_js_wait: Option<Spanned<String>>,
    /// Challenge every visitor without a pass (the admin API can switch it too).
    pub under_attack: Option<Spanned<bool>>,
    /// Path prefixes never challenged, besides `/.well-known/` and `/robots.txt`.
    #[serde(default)]
    pub exempt: Vec<Spanned<String>>,
    /// `[lists.NAME]` names whose clients are never challenged.
    #[serde(default)]
    pub exempt_clients: Vec<Spanned<String>>,
    /// Bits of an IPv6 client address that a pass is bound to (default 64).
    pub ipv6_prefix: Option<Spanned<i64>>,
    /// `[challenge.rules.NAME]`.
    #[serde(default)]
    pub rules: BTreeMap<String, Spanned<ChallengeRuleCfg>>,
}

/// `[challenge.rules.NAME]`: a request that every signal named here fits is challenged.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRuleCfg {
    /// The client is in one of these `[lists.NAME]`.
    #[serde(default)]
    pub lists: Vec<Spanned<String>>,
    /// A regular expression the User-Agent matches (a missing one is matched as "").
    pub user_agent: Option<Spanned<String>>,
    /// Headers every browser sends; the rule fits when one is missing.
    #[serde(default)]
    pub missing_headers: Vec<Spanned<String>>,
}
