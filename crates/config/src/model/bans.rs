//! `[bans]`: bans of clients that trip a rule, and through the admin API.
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct BansCfg {
    /// How long a ban lasts when its rule or the admin API does not say (default "10m").
    pub duration: Option<Spanned<String>>,
    /// Bits of an IPv6 client address that a ban covers (default 64).
    pub ipv6_prefix: Option<Spanned<i64>>,
    /// Most clients whose strikes each rule tracks at once (default 100000).
    pub max_keys: Option<Spanned<i64>>,
    /// `[lists.NAME]` names whose clients no rule bans (the admin API still may).
    #[serde(default)]
    pub exempt: Vec<Spanned<String>>,
    /// `[bans.rules.NAME]`.
    #[serde(default)]
    pub rules: BTreeMap<String, Spanned<BanRuleCfg>>,
}

/// `[bans.rules.NAME]`: `count` matching answers within `window` ban the client.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct BanRuleCfg {
    /// What counts: "status:404", "status:4xx", or a local answer's reason
    /// ("rate_limited", "address_denied", ...).
    pub on: Vec<Spanned<String>>,
    pub count: Spanned<i64>,
    /// "1m", "10s".
    pub window: Spanned<String>,
    /// How long the ban lasts (default `[bans] duration`).
    pub duration: Option<Spanned<String>>,
    /// Log and count whom the rule would ban, ban nobody (default false).
    #[serde(default)]
    pub dry_run: bool,
}
