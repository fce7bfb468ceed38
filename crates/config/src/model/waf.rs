//! `[waf.NAME]`: a WAF policy — SecLang rule files (the OWASP CoreRuleSet) and what
//! Forecourt does with their verdicts. Routes name one (`waf = "NAME"`), or `[global] waf`
//! names the one of every route that says nothing.
use super::Size;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct WafCfg {
    /// Rule files and globs, loaded in this order; relative paths are from the config
    /// file's folder.
    pub rules: Spanned<Vec<Spanned<String>>>,
    /// CRS's paranoia level, 1 (default) to 4.
    pub paranoia_level: Option<Spanned<i64>>,
    /// CRS's inbound anomaly score threshold (default 5).
    pub anomaly_threshold: Option<Spanned<i64>>,
    /// "block" (default) or "detect".
    pub mode: Option<Spanned<String>>,
    /// How much of a request body is inspected (default "1m").
    pub request_body_limit: Option<Spanned<Size>>,
    /// The longest `multipart/form-data` upload inspected whole, files' content included
    /// (default "12800k", ModSecurity's `SecRequestBodyLimit` as Debian ships it); its
    /// other data counts toward `request_body_limit`.
    pub upload_limit: Option<Spanned<Size>>,
    /// The most the policy's uploads being judged hold together (default "128m"); one
    /// that finds no room waits (`upload_wait`), then is answered 503 (or passed, with
    /// `body_over_limit = "pass"`).
    pub upload_memory: Option<Spanned<Size>>,
    /// How long an upload waits for room (default "15s").
    pub upload_wait: Option<Spanned<String>>,
    /// A longer form, multipart, JSON or XML body: "reject" (413, default) or "pass"
    /// (uninspected).
    pub body_over_limit: Option<Spanned<String>>,
    /// The most time the rules may take on one request, and as much again for each MiB
    /// of its body (default "50ms").
    pub inspection_budget: Option<Spanned<String>>,
    /// When it runs out: "block" (default) or "pass".
    pub over_budget: Option<Spanned<String>>,
    /// Responses go through the rules too (CRS's data-leakage rules); default false.
    pub response_inspection: Option<Spanned<bool>>,
    /// The longest response body held for inspection (default "512k").
    pub response_body_limit: Option<Spanned<Size>>,
    /// `[lists.NAME]` names whose clients the rules do not inspect.
    #[serde(default)]
    pub exempt_clients: Vec<Spanned<String>>,
    /// A file that gets one JSON line per blocked (or would-be blocked) request.
    pub audit_log: Option<Spanned<String>>,
    #[serde(default)]
    pub exclusions: Vec<Spanned<ExclusionCfg>>,
}

/// `{ rule = 942100, path = "/search" }`, `{ rule = 920420, remove = true }`,
/// `{ rule = "942100-942199", target = "ARGS:q" }`, `{ tag = "attack-sqli", path = "/wiki" }`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ExclusionCfg {
    /// The rules by id or id range; or by `tag`, one of the two.
    pub rule: Option<Spanned<RuleIds>>,
    pub tag: Option<Spanned<String>>,
    /// Only on this path and below.
    pub path: Option<Spanned<String>>,
    /// Everywhere (what an exclusion without `path` means anyway: written to say so).
    pub remove: Option<Spanned<bool>>,
    /// Only this variable (`ARGS:q`, `REQUEST_COOKIES:session`), not the whole rule.
    pub target: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub enum RuleIds {
    One(i64),
    Range(String),
}
