//! A ban rule (`[bans.rules.NAME]`): which answers count as strikes against a client, how
//! many within which window ban it, and for how long.
use super::strikes::Strikes;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// An answer that counts as a strike.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A response status in this range (inclusive), whoever made it: `status:404`,
    /// `status:4xx`.
    Status { from: u16, to: u16 },
    /// A local answer for this reason (`rate_limited`, `address_denied`, ...: the `reason`
    /// label of `forecourt_local_responses_total`), or an HTTP/2 connection cut off for
    /// this cause (`h2_flood`, `h2_protocol_error`, `h2_bad_preface`).
    Answer(String),
}

impl Trigger {
    /// `status:404`, `status:4xx`, or a local answer's reason name (checked by the caller
    /// against the known ones).
    pub fn parse(text: &str) -> Result<Trigger, String> {
        let Some(status) = text.strip_prefix("status:") else { return Ok(Trigger::Answer(text.to_owned())) };
        let bad = || format!("bad status `{status}`: write a status such as 404 or a class such as 4xx");
        let (from, to) = match status.as_bytes() {
            [c @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                let class = u16::from(c - b'0') * 100;
                (class, class + 99)
            }
            _ => {
                let n: u16 = status.parse().map_err(|_| bad())?;
                (n, n)
            }
        };
        if !(100..=599).contains(&from) {
            return Err(bad());
        }
        Ok(Trigger::Status { from, to })
    }

    fn matches(&self, status: Option<u16>, local: Option<&str>) -> bool {
        match self {
            Trigger::Status { from, to } => status.is_some_and(|s| (*from..=*to).contains(&s)),
            Trigger::Answer(reason) => local == Some(reason.as_str()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub on: Vec<Trigger>,
    pub count: u32,
    pub window: Duration,
    pub duration: Duration,
    /// Most clients whose strikes are tracked at once.
    pub max_keys: usize,
    /// Counts and logs a client that reaches `count`, and bans nobody: to see whom a rule
    /// would ban before it does.
    pub dry_run: bool,
}

impl RuleSpec {
    /// Whether a rule that was `self` and is now `new` keeps its strikes: counted over the
    /// same window, in a table of the same bound. What counts as a strike, how many ban,
    /// for how long and a dry run may change: turning a dry run off then bans the clients
    /// it watched from where they are.
    pub(super) fn keeps_strikes(&self, new: &RuleSpec) -> bool {
        self.window == new.window && self.max_keys == new.max_keys
    }
}

pub struct Rule {
    pub name: String,
    pub spec: RuleSpec,
    /// Shared with the rule it replaced where the strikes mean the same (`keeps_strikes`).
    pub(super) strikes: Arc<Strikes>,
    /// Bans this rule started.
    pub tripped: AtomicU64,
    /// Times a dry run's client reached `count` (and was not banned).
    pub would_have_banned: AtomicU64,
}

impl Rule {
    pub fn new(name: &str, spec: RuleSpec) -> Rule {
        let strikes = Arc::new(Strikes::new(spec.window, spec.max_keys));
        Rule::with_strikes(name, spec, strikes)
    }

    /// The rule `spec` says, on the strikes of the one it replaces.
    pub(super) fn with_strikes(name: &str, spec: RuleSpec, strikes: Arc<Strikes>) -> Rule {
        Rule { name: name.to_owned(), strikes, spec, tripped: AtomicU64::new(0), would_have_banned: AtomicU64::new(0) }
    }

    /// Whether an answer with `status` (made locally for the reason named `local`, if so)
    /// counts against the client.
    pub fn counts(&self, status: Option<u16>, local: Option<&str>) -> bool {
        self.spec.on.iter().any(|t| t.matches(status, local))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_name_statuses_classes_and_local_answers() {
        assert_eq!(Trigger::parse("status:404"), Ok(Trigger::Status { from: 404, to: 404 }));
        assert_eq!(Trigger::parse("status:4xx"), Ok(Trigger::Status { from: 400, to: 499 }));
        assert!(Trigger::parse("status:40").is_err() && Trigger::parse("status:6xx").is_err());
        assert!(Trigger::parse("status:abc").is_err());
        let spec = RuleSpec {
            on: vec![Trigger::parse("status:404").unwrap(), Trigger::parse("rate_limited").unwrap()],
            count: 3,
            window: Duration::from_secs(1),
            duration: Duration::from_secs(1),
            max_keys: 10,
            dry_run: false,
        };
        let rule = Rule::new("r", spec);
        assert!(rule.counts(Some(404), None) && rule.counts(Some(429), Some("rate_limited")));
        assert!(!rule.counts(Some(429), None) && !rule.counts(Some(403), Some("address_denied")));
        assert!(!rule.counts(None, None), "a connection cut off has no status");
    }
}
