//! The WAF (`[waf.NAME]`, a route's `waf = "NAME"`): the OWASP CoreRuleSet, or any SecLang
//! rules, run by the SecLang engine (`forecourt-seclang`) on each request's head and body.
//! `policy` loads a ruleset from the config's settings (its files, paranoia level,
//! threshold and exclusions), `engines` shares one ruleset between the policies and the
//! reloads that load the same rules; `filter` runs it in the route chain (head in phase 1, body
//! in phase 2) and answers 403 for what it blocks; `inspect` hands a request to the
//! engine; `response` the response, when asked to; `verdict` says what the rules decided
//! and why; `upload_room` bounds what uploads read whole hold together; `apart` judges long
//! bodies off the worker's thread; `audit` writes the
//! optional JSON audit log; `metrics` counts.
mod apart;
mod audit;
mod engines;
mod filter;
mod inspect;
pub mod metrics;
mod policy;
mod response;
mod upload_room;
mod verdict;

pub use apart::set_turns as set_inspection_turns;
pub use audit::AuditLog;
pub use engines::Engines;
pub use filter::WafFilter;
pub use metrics::WafCounters;
pub use policy::{ExcludedRules, Exclusion, LoadError, Mode, OverLimit, WafPolicy, WafSettings};
pub use upload_room::UploadRoom;
