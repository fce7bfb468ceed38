//! The rule engine's mode (`SecRuleEngine`, `ctl:ruleEngine`): its own module, because
//! the ruleset (which reads it from the config) and the transaction's controls (which
//! override it) both need it, and neither may import the other for it.

/// Rule engine operating mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleEngineMode {
    /// Rules are enabled and will block.
    #[default]
    On,
    /// Rules are enabled but will only detect.
    DetectionOnly,
    /// Rules are disabled.
    Off,
}
