//! A WAF policy: SecLang rule files loaded in the order the config names them, with the
//! settings CRS reads (paranoia level, anomaly threshold) and the exclusions written as
//! the SecLang CRS documents (`ctl:ruleRemoveById` on a path, `SecRuleRemoveById`,
//! `SecRuleUpdateTargetById`), plus what Forecourt decides around the rules: block or
//! only detect, how much body is inspected, and the time one request may take.
use super::audit::AuditLog;
use super::metrics::WafCounters;
use super::upload_room::UploadRoom;
use super::verdict::{Outcome, Verdict};
use crate::lists::IpList;
use forecourt_seclang::ModSecurity;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What the config says of one `[waf.NAME]`.
#[derive(Clone, Debug)]
pub struct WafSettings {
    /// Rule files and globs, in order (absolute, or relative to the process's folder).
    pub rules: Vec<String>,
    pub paranoia_level: u8,
    /// CRS's inbound anomaly score threshold.
    pub anomaly_threshold: u32,
    pub exclusions: Vec<Exclusion>,
}

/// One exclusion: rules (ids, or a tag) taken out on a path prefix or everywhere, wholly
/// or for one variable (`ARGS:q`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclusion {
    pub rules: ExcludedRules,
    pub path: Option<String>,
    pub target: Option<String>,
}

/// The rules an exclusion names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExcludedRules {
    /// One id (`first == last`) or an inclusive range.
    Ids { first: u64, last: u64 },
    /// Every rule with this `tag:` (`attack-sqli`, `paranoia-level/2`), as CRS tags them.
    Tag(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Block,
    /// Log and count what would have been blocked; block nothing.
    Detect,
}

/// What happens to a body the engine would parse (form, multipart, JSON, XML) that is
/// longer than the inspection limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverLimit {
    /// 413, as ModSecurity's `SecRequestBodyLimitAction Reject`.
    Reject,
    /// On to the upstream with its body uninspected (the head and arguments still are).
    Pass,
}

/// Why rules did not load: where (a rule file's line, and the rule's id when it has one).
#[derive(Debug)]
pub struct LoadError {
    pub message: String,
}

/// A loaded policy, shared by every route that names it.
pub struct WafPolicy {
    pub name: String,
    /// Shared with every policy (and snapshot) loaded from the same rules: `Engines`.
    pub engine: Arc<ModSecurity>,
    pub mode: Mode,
    /// The longest body (other than files' content) inspected: `request_body_limit`.
    pub body_limit: u64,
    /// The longest multipart upload read whole and inspected, files' content included
    /// (`upload_limit`); its other data still within `body_limit`.
    pub upload_limit: u64,
    /// What the uploads read whole hold together (`upload_memory`).
    pub upload_room: UploadRoom,
    pub over_limit: OverLimit,
    /// The most CPU time rules may take on one request, and as much again for each MiB of
    /// its body; then `block_over_budget` decides.
    pub budget: Duration,
    pub block_over_budget: bool,
    pub audit: Option<Arc<AuditLog>>,
    pub counters: Arc<WafCounters>,
    pub settings: WafSettings,
    /// Responses go through the rules too (SecLang's phases 3 and 4); off by default.
    pub response_inspection: bool,
    /// The longest response body held for inspection; a longer one passes uninspected.
    pub response_body_limit: usize,
    /// Lists whose clients the rules do not inspect (the operator's own scanners).
    pub exempt_clients: Vec<Arc<IpList>>,
}

impl WafPolicy {
    /// Whether this policy refuses on `verdict` (a rule's refusal in `block` mode, an
    /// unfinished inspection where `over_budget` says so), counted as it is decided:
    /// refusals as blocked, a rule's unheeded one in `detect` mode as would-block, an
    /// unfinished inspection as over budget.
    pub fn refuses(&self, verdict: &Verdict) -> bool {
        let refuse = match verdict.outcome {
            Outcome::Pass => false,
            Outcome::Block { .. } => self.mode == Mode::Block,
            Outcome::OutOfTime => {
                self.counters.over_budget.fetch_add(1, Ordering::Relaxed);
                self.block_over_budget && self.mode == Mode::Block
            }
        };
        if refuse {
            self.counters.count_block(&verdict.rules);
        } else if matches!(verdict.outcome, Outcome::Block { .. }) {
            self.counters.would_block.fetch_add(1, Ordering::Relaxed);
        }
        refuse
    }
}

/// The budget's share for a body of `len` bytes: as much again for each MiB of it. The
/// budget is there for inputs that cost more than their length (backtracking bait, deep
/// nesting), not for the rules' linear work on a long body (a 12 MiB photo upload takes
/// about 200 ms of it, a 300 KB JSON document 42 ms).
pub fn for_the_body(budget: Duration, len: usize) -> Duration {
    budget.mul_f64(len as f64 / (1 << 20) as f64)
}

/// Ids of the rules Forecourt writes around the user's (ModSecurity's range for local
/// rules, far from CRS's 900000–999999).
const FIRST_OWN_ID: u64 = 99_000;

impl WafSettings {
    /// Loads and compiles the rules (about a third of a second for CRS), every regex
    /// built now rather than on the first request.
    pub fn load(&self) -> Result<ModSecurity, LoadError> {
        for entry in &self.rules {
            check_matches_a_file(entry)?;
        }
        let engine = ModSecurity::from_string(&self.seclang()).map_err(|e| LoadError { message: e.to_string() })?;
        engine.ruleset().prepare();
        Ok(engine)
    }

    /// What the ruleset is made of: the SecLang text and, for each file the rules entries
    /// name, its path, size and modification time (files those include are not followed).
    pub fn fingerprint(&self) -> String {
        let mut key = self.seclang();
        for entry in &self.rules {
            let mut paths: Vec<std::path::PathBuf> = match entry.contains(['*', '?', '[']) {
                true => glob::glob(entry).map(|p| p.flatten().collect()).unwrap_or_default(),
                false => vec![entry.into()],
            };
            paths.sort();
            for path in paths {
                let meta = std::fs::metadata(&path).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let _ = writeln!(key, "{} {:?} {:?}", path.display(), meta.map(|m| m.len()), modified);
            }
        }
        key
    }

    /// The SecLang text that loads this policy: Forecourt's settings, the files, then the
    /// exclusions that must follow the rules they change.
    pub fn seclang(&self) -> String {
        let (pl, threshold) = (self.paranoia_level, self.anomaly_threshold);
        let mut text = String::from("SecRuleEngine On\nSecRequestBodyAccess On\n");
        // CRS 3 reads `paranoia_level`, CRS 4 `blocking_paranoia_level`; both set these
        // only when unset, so what is set here wins over their defaults.
        let _ = writeln!(
            text,
            "SecAction \"id:{FIRST_OWN_ID},phase:1,pass,nolog,t:none,setvar:tx.paranoia_level={pl},\
             setvar:tx.blocking_paranoia_level={pl},setvar:tx.inbound_anomaly_score_threshold={threshold}\""
        );
        // ModSecurity's recommended configuration (modsecurity.conf, which nginx's module
        // loads): a body its processor could not parse is refused, not passed uninspected;
        // so is a multipart body the application could read differently (200003: the
        // `MULTIPART_*` flags, a quoted boundary excepted; 200004: a line that almost is
        // a boundary).
        text.push_str(
            "SecRule REQBODY_ERROR \"!@eq 0\" \"id:200002,phase:2,t:none,log,deny,status:400,\
             msg:'Failed to parse request body.'\"\n\
             SecRule MULTIPART_STRICT_ERROR \"!@eq 0\" \"id:200003,phase:2,t:none,log,deny,status:400,\
             msg:'Multipart request body failed strict validation.'\"\n\
             SecRule MULTIPART_UNMATCHED_BOUNDARY \"@eq 1\" \"id:200004,phase:2,t:none,log,deny,\
             msg:'Multipart parser detected a possible unmatched boundary.'\"\n",
        );
        // The path as routes read it: REQUEST_FILENAME is decoded once already (as in
        // libmodsecurity), and t:normalizePath merges `//` and resolves dot segments, so an
        // exclusion for /search holds for `//search` and not for `/search/../login`.
        for (e, id) in self.exclusions.iter().filter(|e| e.path.is_some()).zip(FIRST_OWN_ID + 1..) {
            let path = e.path.as_deref().unwrap_or_default();
            let (by, rules) = e.rules.by();
            let ctl = match &e.target {
                None => format!("ctl:ruleRemoveBy{by}={rules}"),
                Some(target) => format!("ctl:ruleRemoveTargetBy{by}={rules};{target}"),
            };
            let _ = writeln!(
                text,
                "SecRule REQUEST_FILENAME \"@beginsWith {path}\" \"id:{id},phase:1,pass,nolog,t:none,t:normalizePath,{ctl}\""
            );
        }
        for entry in &self.rules {
            // Quoted: a folder's name may hold spaces.
            let _ = writeln!(text, "Include \"{}\"", entry.replace('"', "\\\""));
        }
        for e in self.exclusions.iter().filter(|e| e.path.is_none()) {
            let (by, rules) = e.rules.by();
            let _ = match &e.target {
                None => writeln!(text, "SecRuleRemoveBy{by} \"{rules}\""),
                Some(target) => writeln!(text, "SecRuleUpdateTargetBy{by} \"{rules}\" \"!{target}\""),
            };
        }
        text
    }
}

impl ExcludedRules {
    /// How SecLang names these rules: the directive's or `ctl:`'s suffix (`Id`, `Tag`) and
    /// its argument.
    fn by(&self) -> (&'static str, String) {
        match self {
            ExcludedRules::Ids { first, last } if first == last => ("Id", first.to_string()),
            ExcludedRules::Ids { first, last } => ("Id", format!("{first}-{last}")),
            ExcludedRules::Tag(tag) => ("Tag", tag.clone()),
        }
    }
}

/// A rules entry that names nothing is a mistake to report, not an empty ruleset.
fn check_matches_a_file(entry: &str) -> Result<(), LoadError> {
    let found = match entry.contains(['*', '?', '[']) {
        true => glob::glob(entry).map(|mut paths| paths.any(|p| p.is_ok_and(|p| p.is_file()))).unwrap_or(false),
        false => std::path::Path::new(entry).is_file(),
    };
    match found {
        true => Ok(()),
        false => Err(LoadError { message: format!("`{entry}` names no rule file{}", setup_hint(entry)) }),
    }
}

/// Where CRS's setup file is when it is not where the config says: Debian's package keeps
/// it in /etc (the rules stay in /usr/share), CRS's own release ships it as
/// `crs-setup.conf.example`, to be copied.
fn setup_hint(entry: &str) -> String {
    let path = std::path::Path::new(entry);
    if path.file_name() != Some("crs-setup.conf".as_ref()) {
        return String::new();
    }
    let candidates = [path.with_extension("conf.example"), "/etc/modsecurity/crs/crs-setup.conf".into()];
    match candidates.iter().find(|c| c.is_file()) {
        Some(found) => format!(" (is it `{}`?)", found.display()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_adds_the_budget_once_for_each_mib() {
        let budget = Duration::from_millis(50);
        assert_eq!(for_the_body(budget, 0), Duration::ZERO, "no body: the budget alone");
        assert_eq!(for_the_body(budget, 512 << 10), Duration::from_millis(25));
        assert_eq!(for_the_body(budget, 12 << 20), Duration::from_millis(600), "a 12 MiB upload: 650 ms in all");
    }

    fn settings(rules: Vec<String>, exclusions: Vec<Exclusion>) -> WafSettings {
        WafSettings { rules, paranoia_level: 2, anomaly_threshold: 7, exclusions }
    }

    #[test]
    fn the_seclang_sets_crs_then_includes_then_excludes() {
        let ids = |first, last| ExcludedRules::Ids { first, last };
        let on_search = Exclusion { rules: ids(942100, 942100), path: Some("/search".into()), target: None };
        let everywhere = Exclusion { rules: ids(920420, 920429), path: None, target: None };
        let one_arg = Exclusion { rules: ids(941100, 941100), path: None, target: Some("ARGS:html".into()) };
        let sqli = || ExcludedRules::Tag("attack-sqli".into());
        let tag_on_api = Exclusion { rules: sqli(), path: Some("/api".into()), target: Some("ARGS:q".into()) };
        let tag_everywhere = Exclusion { rules: sqli(), path: None, target: None };
        let exclusions = vec![on_search, everywhere, one_arg, tag_on_api, tag_everywhere];
        let text = settings(vec!["/r/a.conf".into()], exclusions).seclang();
        let include = text.find("Include \"/r/a.conf\"").unwrap();
        assert!(text.contains("setvar:tx.blocking_paranoia_level=2"));
        assert!(text.contains("setvar:tx.inbound_anomaly_score_threshold=7"));
        let path_rule = text
            .find(
                "@beginsWith /search\" \"id:99001,phase:1,pass,nolog,t:none,t:normalizePath,ctl:ruleRemoveById=942100",
            )
            .unwrap();
        assert!(path_rule < include, "a ctl exclusion runs before the rules it removes");
        assert!(text.find("SecRuleRemoveById \"920420-920429\"").unwrap() > include);
        assert!(text.find("SecRuleUpdateTargetById \"941100\" \"!ARGS:html\"").unwrap() > include);
        let tag_rule = text.find(
            "\"id:99002,phase:1,pass,nolog,t:none,t:normalizePath,ctl:ruleRemoveTargetByTag=attack-sqli;ARGS:q\"",
        );
        assert!(tag_rule.unwrap() < include);
        assert!(text.find("SecRuleRemoveByTag \"attack-sqli\"").unwrap() > include);
    }

    #[test]
    fn a_rules_entry_that_names_no_file_is_an_error() {
        let missing = settings(vec!["/nonexistent/*.conf".into()], vec![]).load();
        assert!(missing.err().unwrap().message.contains("names no rule file"));
    }

    #[test]
    fn rules_in_a_folder_whose_name_has_spaces_load() {
        let dir = std::env::temp_dir().join(format!("waf rules \"{}\"", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.conf"), "SecRule ARGS \"@contains evil\" \"id:5001,phase:2,deny\"\n").unwrap();
        let entry = dir.join("*.conf").display().to_string();
        let loaded = settings(vec![entry], vec![]).load();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(loaded.is_ok(), "{:?}", loaded.err().map(|e| e.message));
    }

    #[test]
    fn a_missing_crs_setup_points_at_the_example_beside_it() {
        let dir = std::env::temp_dir().join(format!("crs-setup-hint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("crs-setup.conf.example"), "").unwrap();
        let named = dir.join("crs-setup.conf").display().to_string();
        let message = settings(vec![named], vec![]).load().err().unwrap().message;
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(message.contains("crs-setup.conf.example`?)"), "{message}");
    }
}
