//! Transaction processing for ModSecurity.

use std::sync::Arc;

use super::budget::Budget;
use super::chain::ChainState;
use super::control::{CtlDirective, TransactionControls};
use super::intervention::Intervention;
use super::phase::Phase;
use super::ruleset::{CompiledRule, CompiledRuleset, RuleEngineMode};
use super::scoring::AnomalyScore;
use crate::actions::{execute_actions, ActionResult, DisruptiveOutcome, FlowOutcome};
use crate::error::Result;
use crate::variables::{RequestData, ResponseData, TxCollection};

/// Whether the rule has the `capture` action.
fn has_capture(rule: &CompiledRule) -> bool {
    rule.actions.iter().any(|a| matches!(a, crate::parser::Action::Data(crate::parser::DataAction::Capture)))
}

#[path = "transaction_body.rs"]
mod body;
#[path = "transaction_evaluate.rs"]
mod evaluate;
#[path = "transaction_setvar.rs"]
mod setvar;
pub use body::has_body_processor;
use evaluate::RuleMatch;

/// A ModSecurity transaction for processing a single request.
pub struct Transaction {
    /// Compiled ruleset reference.
    ruleset: Arc<CompiledRuleset>,
    /// Request data.
    request: RequestData,
    /// Response data.
    response: ResponseData,
    /// TX collection (mutable variables).
    tx: TxCollection,
    /// Current phase.
    phase: Phase,
    /// Intervention (if any).
    intervention: Option<Intervention>,
    /// Anomaly score tracker.
    anomaly_score: AnomalyScore,
    /// Default block status.
    default_status: u16,
    /// Matched rules.
    matched_rules: Vec<String>,
    /// Allow flag (skip further processing).
    allowed: bool,
    /// Matched variables for current rule evaluation.
    matched_vars: Vec<(String, String)>,
    /// Regex captures from last match.
    captures: Vec<String>,
    /// Per-transaction `ctl:` overrides.
    controls: TransactionControls,
    /// Every variable that caused a rule to match, in order.
    ///
    /// Separate from `matched_vars`, which ModSecurity scopes to the current
    /// rule so that `MATCHED_VARS` reads correctly. This accumulates for the
    /// whole transaction, because audit logging wants to answer "what did
    /// rule 942100 actually see" after the fact.
    matched_data: Vec<MatchedData>,
    /// The CPU time rule evaluation may still take (`set_budget`).
    budget: Option<Budget>,
    /// Rules were skipped because the budget was spent.
    out_of_time: bool,
    /// The request body went to its processor (`parse_request_body`).
    body_parsed: bool,
}

/// What a rule matched on.
///
/// `matched_rules()` gives rule IDs, which says a rule fired but not why.
/// Without the variable and value there is no way to tell a true positive
/// from a false one, or to write a useful audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedData {
    /// ID of the rule that matched, if it has one.
    pub rule_id: Option<String>,
    /// Name of the variable that matched, e.g. `ARGS:json.q`.
    pub variable: String,
    /// The variable's value, after transformations were applied.
    ///
    /// This is what `MATCHED_VAR` resolves to -- the whole value, not the
    /// portion the operator hit.
    pub value: String,
    /// The portion of the value the operator matched, when it reports one.
    ///
    /// `@contains evil` against `something-evil-here` gives `evil` here and
    /// the full string in `value`. Operators that match the whole value, or
    /// do not report a portion, leave this `None`.
    pub matched_portion: Option<String>,
    /// The rule's `severity` (0 emergency … 7 debug): rules that report an attack have
    /// one; CRS's bookkeeping (initialisation, paranoia-level skips) has none.
    pub severity: Option<u8>,
}

impl Transaction {
    /// Create a new transaction.
    pub fn new(ruleset: Arc<CompiledRuleset>, default_status: u16) -> Self {
        Self {
            ruleset,
            request: RequestData { started: Some(std::time::Instant::now()), ..RequestData::new() },
            response: ResponseData::new(),
            tx: TxCollection::new(),
            phase: Phase::RequestHeaders,
            intervention: None,
            anomaly_score: AnomalyScore::new(),
            default_status,
            matched_rules: Vec::new(),
            allowed: false,
            matched_vars: Vec::new(),
            captures: Vec::new(),
            controls: TransactionControls::default(),
            matched_data: Vec::new(),
            budget: None,
            out_of_time: false,
            body_parsed: false,
        }
    }

    /// Stops evaluating rules once they have spent `allowed` CPU time on this thread from
    /// now (checked between rules, so a request costs at most the budget plus one rule):
    /// [`Transaction::out_of_time`] then says so, and the caller decides what an unfinished
    /// inspection means. Time the thread does not run (the machine busy with other work, a
    /// body still arriving) is not counted. Set again before each call that runs rules on
    /// another occasion (the body's phase, the response's): the count starts again.
    pub fn set_budget(&mut self, allowed: std::time::Duration) {
        self.budget = Some(Budget::start(allowed));
        self.out_of_time = false;
    }

    /// What is left of the budget (`set_budget`), if one was set: for a later phase to
    /// carry on with.
    pub fn budget_left(&self) -> Option<std::time::Duration> {
        self.budget.as_ref().map(Budget::left)
    }

    /// Whether rules were left unevaluated because the deadline passed.
    pub fn out_of_time(&self) -> bool {
        self.out_of_time
    }

    /// Set the client address, backing `REMOTE_ADDR` and `REMOTE_PORT`.
    ///
    /// Without this there is no way for a caller to populate them, so every
    /// IP-based rule -- `@ipMatch`, CRS IP reputation, allow and deny lists --
    /// evaluated against an empty string and never matched.
    pub fn set_client_addr(&mut self, ip: &str, port: u16) {
        self.request.client_ip = ip.to_string();
        self.request.client_port = port;
    }

    /// Names the transaction (`UNIQUE_ID`) after the caller's request id, so that a rule
    /// log and an access log line can be joined. Unset, it is a number unique in the process.
    pub fn set_unique_id(&mut self, id: &str) {
        self.request.unique_id = std::cell::OnceCell::from(id.to_string());
    }

    /// Set the local address, backing `SERVER_ADDR` and `SERVER_PORT`.
    pub fn set_server_addr(&mut self, ip: &str, port: u16) {
        self.request.server_addr = ip.to_string();
        self.request.server_port = port;
    }

    /// Set the server name, backing `SERVER_NAME`.
    pub fn set_server_name(&mut self, name: &str) {
        self.request.server_name = name.to_string();
    }

    /// Every variable that caused a rule to match, in order.
    ///
    /// Pairs with [`matched_rules`](Self::matched_rules): that says which
    /// rules fired, this says what they saw.
    pub fn matched_data(&self) -> &[MatchedData] {
        &self.matched_data
    }

    /// Process the request URI.
    pub fn process_uri(&mut self, uri: &str, method: &str, protocol: &str) -> Result<()> {
        self.request.set_uri(uri);
        self.request.set_method(method);
        self.request.set_protocol(protocol);
        Ok(())
    }

    /// Add a request header.
    pub fn add_request_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.request.add_header(name, value);
        Ok(())
    }

    /// Process request headers (Phase 1).
    pub fn process_request_headers(&mut self) -> Result<()> {
        self.phase = Phase::RequestHeaders;
        self.run_phase(Phase::RequestHeaders)?;
        Ok(())
    }

    /// The whole request body, shared with the caller's buffer (no copy is kept).
    pub fn set_request_body(&mut self, body: bytes::Bytes) {
        self.request.set_body(body);
    }

    /// Append data to request body.
    pub fn append_request_body(&mut self, data: &[u8]) -> Result<()> {
        self.request.append_body(data);
        Ok(())
    }

    /// Set the response's status and protocol (`RESPONSE_STATUS`, `RESPONSE_PROTOCOL`).
    pub fn set_response_status(&mut self, status: u16, protocol: &str) {
        self.response.set_status(status);
        self.response.set_protocol(protocol);
    }

    /// Add a response header.
    pub fn add_response_header(&mut self, name: &str, value: &str) -> Result<()> {
        self.response.add_header(name, value);
        Ok(())
    }

    /// Process response headers (Phase 3).
    pub fn process_response_headers(&mut self) -> Result<()> {
        self.phase = Phase::ResponseHeaders;
        self.run_phase(Phase::ResponseHeaders)?;
        Ok(())
    }

    /// Append data to response body.
    pub fn append_response_body(&mut self, data: &[u8]) -> Result<()> {
        self.response.append_body(data);
        Ok(())
    }

    /// Process response body (Phase 4).
    pub fn process_response_body(&mut self) -> Result<()> {
        self.phase = Phase::ResponseBody;
        self.run_phase(Phase::ResponseBody)?;
        Ok(())
    }

    /// Process logging phase (Phase 5).
    pub fn process_logging(&mut self) -> Result<()> {
        self.phase = Phase::Logging;
        self.run_phase(Phase::Logging)?;
        Ok(())
    }

    /// Get current intervention (if any).
    pub fn intervention(&self) -> Option<&Intervention> {
        self.intervention.as_ref()
    }

    /// Check if there's an intervention.
    pub fn has_intervention(&self) -> bool {
        self.intervention.is_some()
    }

    /// Get matched rule IDs.
    pub fn matched_rules(&self) -> &[String] {
        &self.matched_rules
    }

    /// Get the anomaly score.
    pub fn anomaly_score(&self) -> i32 {
        self.anomaly_score.inbound
    }

    /// Whether a rule kept this transaction out of the audit log (`ctl:auditEngine=Off`).
    pub fn audit_off(&self) -> bool {
        self.controls.audit_off()
    }

    /// Get the TX collection.
    pub fn tx(&self) -> &TxCollection {
        &self.tx
    }

    /// Get mutable TX collection.
    pub fn tx_mut(&mut self) -> &mut TxCollection {
        &mut self.tx
    }

    /// The engine mode in force for this transaction.
    ///
    /// `ctl:ruleEngine` overrides the ruleset's configured mode for the
    /// remainder of the transaction; with no override this is the ruleset's
    /// own mode.
    fn engine_mode(&self) -> RuleEngineMode {
        self.controls.engine_mode(self.ruleset.engine_mode())
    }

    /// Run rules for a specific phase.
    fn run_phase(&mut self, phase: Phase) -> Result<()> {
        if self.allowed || self.intervention.is_some() || self.out_of_time {
            return Ok(());
        }

        // ctl:ruleEngine overrides the ruleset's mode for this transaction, so
        // the effective mode has to be re-read rather than captured once: a
        // rule in an earlier phase may have switched it off.
        if self.engine_mode() == RuleEngineMode::Off {
            return Ok(());
        }

        // A second handle on the shared ruleset (not a copy of its rules, which cost
        // more than evaluating them), so the rules can be borrowed while `self` is
        // mutated.
        let ruleset = Arc::clone(&self.ruleset);
        let rules: &[CompiledRule] = ruleset.rules_for_phase(phase);
        if rules.is_empty() {
            return Ok(());
        }

        let mut chain_state = ChainState::new();
        // A chain is one logical rule: the starter's actions fire only when
        // every link matches, so they are held here until the chain completes.
        let mut pending_chain_actions: Option<ActionResult> = None;
        let mut skip_count: u32 = 0;
        let mut skip_after: Option<String> = None;
        let mut evidence_mark = (0, 0);

        let mut idx = 0;
        while idx < rules.len() {
            // Handle skip
            if skip_count > 0 {
                skip_count -= 1;
                idx += 1;
                continue;
            }

            // Handle skipAfter
            if let Some(ref marker) = skip_after {
                if let Some(marker_idx) = self.ruleset.marker(marker, phase) {
                    // The marker's index is that of the first rule after it, which
                    // may be the very next one (a `skipAfter` rule just before its
                    // `SecMarker`, as in CRS 3's application exclusions).
                    if marker_idx >= idx {
                        idx = marker_idx;
                        skip_after = None;
                        continue;
                    }
                }
                // The marker is unknown, or sits at or behind the current
                // position: ModSecurity does not jump backwards, so the rest of
                // the phase is skipped.
                idx += 1;
                continue;
            }

            // A ctl:ruleEngine=Off from an earlier rule stops this phase where
            // it stands, rather than only taking effect from the next phase.
            if self.engine_mode() == RuleEngineMode::Off {
                return Ok(());
            }

            // The clock is read every eighth rule: often enough for a budget of
            // milliseconds, rarely enough to cost nothing measurable.
            if idx % 8 == 0 && self.budget.as_mut().is_some_and(Budget::exhausted) {
                self.out_of_time = true;
                return Ok(());
            }

            let rule = &rules[idx];

            // ctl:ruleRemoveById excluded this rule for this transaction. Skip
            // it as though it were not in the ruleset -- including its chain
            // links, which cannot fire without their starter.
            if self.controls.is_rule_removed(rule.id.as_deref()) || self.controls.is_removed_by_tag(&rule.tags) {
                if rule.is_chain {
                    chain_state.reset();
                    pending_chain_actions = None;
                    idx += 1;
                    while idx < rules.len() && rules[idx - 1].is_chain {
                        idx += 1;
                    }
                    continue;
                }
                idx += 1;
                continue;
            }

            // Handle chain continuation
            if chain_state.in_chain && !rule.is_chain && rule.chain_next.is_none() {
                // End of chain, check if previous rules in chain matched
                if !chain_state.chain_matched {
                    chain_state.reset();
                    idx += 1;
                    continue;
                }
            }

            // What was recorded before this chain began: a chain that breaks takes its
            // links' evidence with it (920170's `REQUEST_METHOD` matches every GET).
            if !chain_state.in_chain {
                evidence_mark = (self.matched_data.len(), self.matched_rules.len());
            }

            // Evaluate rule, then record what it matched and run its non-disruptive actions
            let matches = self.evaluate_rule(rule)?;
            if let Some((action_result, captures)) = self.on_matches(rule, matches) {
                // Track matched rule
                if let Some(ref id) = rule.id {
                    self.matched_rules.push(id.clone());
                }

                if rule.is_chain {
                    // A link that expects more links after it. Hold the
                    // starter's actions: nothing may fire until the whole
                    // chain has matched.
                    if !chain_state.in_chain {
                        chain_state.start_chain(idx);
                        pending_chain_actions = Some(action_result);
                    }
                    chain_state.continue_chain(true, &captures);
                    idx += 1;
                    continue;
                }

                // Either a standalone rule, or the final link of a chain that
                // has now matched in full. A completed chain executes the
                // starter's actions, not the last link's.
                let action_result = if chain_state.in_chain {
                    chain_state.reset();
                    pending_chain_actions.take().unwrap_or(action_result)
                } else {
                    action_result
                };

                // Its setvar and ctl: ran when it matched (above): before the disruptive
                // action below, so that ctl:ruleEngine=DetectionOnly on the same rule
                // governs whether that rule blocks.

                // Handle flow control
                match action_result.flow {
                    FlowOutcome::Chain => {
                        if !chain_state.in_chain {
                            chain_state.start_chain(idx);
                        }
                        chain_state.continue_chain(true, &captures);
                    }
                    FlowOutcome::Skip(n) => {
                        skip_count = n;
                    }
                    FlowOutcome::SkipAfter(marker) => {
                        skip_after = Some(marker);
                    }
                    FlowOutcome::Continue => {}
                }

                // Handle disruptive action: it intervenes only when the engine is On
                // (DetectionOnly records the match and carries on); `allow` in any mode.
                if let Some(outcome) = action_result.disruptive {
                    if matches!(outcome, DisruptiveOutcome::Allow) {
                        self.allowed = true;
                        return Ok(());
                    }
                    // A redirect's target may name variables (`%{request_headers.host}`),
                    // as libmodsecurity expands them.
                    let outcome = match outcome {
                        DisruptiveOutcome::Redirect(url) if url.contains("%{") => {
                            DisruptiveOutcome::Redirect(self.expand_macros(&url))
                        }
                        other => other,
                    };
                    let intervention = Intervention::for_outcome(
                        outcome,
                        action_result.status,
                        self.default_status,
                        phase,
                        rule.id.clone(),
                    );
                    if let Some(mut intervention) = intervention.filter(|_| self.engine_mode() == RuleEngineMode::On) {
                        intervention.add_metadata(action_result.metadata);
                        self.intervention = Some(intervention);
                        return Ok(());
                    }
                }
            } else {
                // Rule didn't match. If it belongs to a chain, the chain as a
                // whole cannot match: drop the starter's held actions and skip
                // past the remaining links so they are never evaluated on
                // their own.
                if chain_state.in_chain || rule.is_chain {
                    chain_state.reset();
                    pending_chain_actions = None;
                    self.matched_data.truncate(evidence_mark.0);
                    self.matched_rules.truncate(evidence_mark.1);
                    while idx < rules.len() && rules[idx].is_chain {
                        idx += 1;
                    }
                    idx += 1;
                    continue;
                }
            }

            // End chain if this is the last rule in chain
            if chain_state.in_chain && !rule.is_chain {
                chain_state.end_chain();
            }

            idx += 1;
        }

        // Sync anomaly score to TX
        self.anomaly_score.sync_to_tx(&mut self.tx);

        Ok(())
    }

    /// Record each value a rule matched and run the rule's non-disruptive actions
    /// (`setvar`, `ctl:`) for it, with MATCHED_VAR that value, chain link or not, as
    /// ModSecurity 2 and 3 do: CRS 921170 counts each argument name so, CRS 920420's
    /// starter sets `tx.content_type` for its link to read, and CRS writes a chained
    /// rule's score in its last link so that it counts only when every link matched.
    /// Returns the last match's remaining actions (disruptive and flow: they run once,
    /// and wait for the chain) and groups; `None` when the rule did not match.
    fn on_matches(&mut self, rule: &CompiledRule, matches: Vec<RuleMatch>) -> Option<(ActionResult, Vec<String>)> {
        if matches.is_empty() {
            return None;
        }
        // MATCHED_VARS is scoped to the current rule in ModSecurity, so this replaces
        // rather than appends -- otherwise a later rule would read the previous rule's.
        self.matched_vars.clear();
        let severity = rule.actions.iter().find_map(|a| match a {
            crate::parser::Action::Metadata(crate::parser::MetadataAction::Severity(s)) => Some(*s),
            _ => None,
        });
        let mut last = None;
        for found in matches {
            if let Some(ref var) = found.variable {
                self.matched_vars.push((var.name.clone(), var.value.clone()));
                self.matched_data.push(MatchedData {
                    rule_id: rule.id.clone(),
                    variable: var.name.clone(),
                    value: var.value.clone(),
                    matched_portion: var.portion.clone(),
                    severity,
                });
            }
            if has_capture(rule) {
                self.store_captures(found.variable.as_ref().and_then(|v| v.portion.clone()), &found.captures);
            }
            let mut result = execute_actions(&rule.actions, None, &found.captures);
            for op in std::mem::take(&mut result.setvar_ops) {
                self.apply_setvar(&op);
            }
            for ctl in std::mem::take(&mut result.control_ops) {
                self.controls.apply(CtlDirective::parse(&ctl));
            }
            last = Some((result, found.captures));
        }
        last
    }

    /// `capture`: TX:0 is what the operator matched, TX:1 to TX:9 its groups — set as the
    /// rule matches, so that the next link of a chain (CRS 920420's `TX:0 "!@within ..."`)
    /// and the rule's own `setvar`s read them.
    fn store_captures(&mut self, whole: Option<String>, groups: &[String]) {
        use crate::variables::MutableCollection;
        if let Some(whole) = whole {
            self.tx.set("0".to_string(), whole);
        }
        for (i, group) in groups.iter().take(9).enumerate() {
            self.tx.set((i + 1).to_string(), group.clone());
        }
    }
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("phase", &self.phase)
            .field("has_intervention", &self.intervention.is_some())
            .field("anomaly_score", &self.anomaly_score.inbound)
            .field("matched_rules", &self.matched_rules)
            .finish()
    }
}

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
