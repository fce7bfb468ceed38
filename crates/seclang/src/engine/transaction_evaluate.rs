//! A rule against the transaction: its variables resolved (exclusions and counts applied),
//! transformed, and tested by its operator — every value it matched, as ModSecurity
//! reports them. What a match then does (actions, chains, interventions) is
//! `transaction.rs`'s.
use std::borrow::Cow;
use std::collections::HashMap;

use super::Transaction;
use crate::engine::ruleset::CompiledRule;
use crate::error::Result;
use crate::operators::{compile_operator, Operator, OperatorResult};
use crate::parser::{OperatorName, OperatorSpec};
use crate::variables::VariableResolver;

/// The variable a rule matched on.
#[derive(Debug, Clone)]
pub(super) struct MatchedVariable {
    pub(super) name: String,
    pub(super) value: String,
    pub(super) portion: Option<String>,
}

/// One value a rule matched (no variable for a `SecAction`), with the operator's groups.
pub(super) struct RuleMatch {
    pub(super) variable: Option<MatchedVariable>,
    pub(super) captures: Vec<String>,
}

impl Transaction {
    /// Evaluate a single rule: every value it matched (all of them, as ModSecurity
    /// does, not only the first), empty when it did not match.
    pub(super) fn evaluate_rule(&self, rule: &CompiledRule) -> Result<Vec<RuleMatch>> {
        let resolver = VariableResolver::new(
            &self.request,
            &self.response,
            &self.tx,
            // MATCHED_VAR is the value the previous rule matched on. This was
            // a literal `None`, so a rule reading MATCHED_VAR could never
            // fire, however many rules had matched before it.
            self.matched_vars.last().map(|(_, value)| value.as_str()),
            &self.matched_vars,
            &self.captures,
        );

        // Resolve variables from all specs.
        //
        // A spec in count mode (`&VAR`) contributes the *number* of matching
        // values as a single value — 0 when the variable is absent — rather than
        // the values themselves. This matches ModSecurity's `&VARIABLE` semantics
        // and is what CRS's `SecRule &TX:x "@eq 0"` initialization relies on.
        // Emitting a value even for an absent count also keeps the spec out of
        // the "resolved to nothing" early-return below, so `&x "@eq 0"` matches.
        // ctl:ruleRemoveTargetById drops individual targets from this rule for
        // this transaction. The check is hoisted so rules with no exclusion --
        // effectively all of them -- pay one comparison rather than a scan per
        // variable.
        let filter_targets =
            self.controls.has_target_removals(rule.id.as_deref()) || self.controls.has_tag_target_removals(&rule.tags);

        let mut all_values = Vec::new();
        let mut any_excluded = false;
        for spec in &rule.variables {
            let mut resolved = resolver.resolve(spec);
            if filter_targets {
                let before = resolved.len();
                resolved.retain(|(name, _)| {
                    !self.controls.is_target_removed(rule.id.as_deref(), spec, name)
                        && !self.controls.is_target_removed_by_tag(&rule.tags, spec, name)
                });
                any_excluded |= resolved.len() != before;
            }
            if spec.count_mode {
                // An exclusion reduces the count, which is what a rule like
                // `SecRule &ARGS:x "@eq 0"` is asking about.
                all_values.push((format!("&{:?}", spec.name), Cow::Owned(resolved.len().to_string())));
            } else {
                all_values.extend(resolved);
            }
        }

        // Exclusions removed everything this rule had to test. Return before
        // the branch below: a rule stripped down to nothing is not the same as
        // a SecAction with no targets, and running the operator unconditionally
        // could match.
        if any_excluded && all_values.is_empty() {
            return Ok(Vec::new());
        }

        if all_values.is_empty() {
            // A rule with no variable specs at all (i.e. SecAction) runs its
            // operator unconditionally — this is how CRS sets up TX thresholds.
            if rule.variables.is_empty() {
                let result = rule.operator.execute("");
                let matched = if rule.operator_negated { !result.matched } else { result.matched };
                // A SecAction has no variable, so there is nothing to report
                // as the match target.
                let found = RuleMatch { variable: None, captures: result.captures };
                return Ok(if matched { vec![found] } else { Vec::new() });
            }
            // Variables were specified but resolved to nothing (e.g. absent
            // header). ModSecurity does not run the operator when there is no
            // value to run it against, so the rule does not match -- including
            // when the operator is negated. Reporting a negated operator as a
            // match here inverts "this variable is absent" into "every request
            // matches", which is how an unimplemented variable turned CRS
            // 920100 (`REQUEST_LINE "!@rx ..."`) into a rule that denied all
            // traffic. Absence is tested with `&VAR "@eq 0"`, which resolves to
            // a count and so never reaches this branch.
            return Ok(Vec::new());
        }

        // If the operator argument references runtime macros (e.g.
        // `@ge %{tx.inbound_anomaly_score_threshold}`), expand them against the
        // current TX state and recompile the operator so the comparison runs
        // against the resolved value. Otherwise use the precompiled operator.
        let dynamic_operator;
        let operator: &dyn Operator = if rule.operator_spec.argument.contains("%{") {
            let expanded = self.expand_macros(&rule.operator_spec.argument);
            dynamic_operator = compile_operator(&OperatorSpec {
                negated: rule.operator_spec.negated,
                name: rule.operator_spec.name,
                argument: expanded,
            })?;
            dynamic_operator.as_ref()
        } else {
            rule.operator.as_ref()
        };

        // Apply transformations and match: a `multiMatch` rule matches once for every
        // stage of the value it finds (its setvars run each time, as ModSecurity's do).
        // `@validateUtf8Encoding` asks about bytes the rules never see: the request data
        // remembers which texts were not UTF-8 when they came.
        let not_utf8 =
            (rule.operator_spec.name == OperatorName::ValidateUtf8Encoding).then_some(&self.request.not_utf8);
        // An operator that reads bytes (`@rx`, PCRE's in libmodsecurity) also searches a
        // value as it came when that was not UTF-8 and the transformations left its text
        // as it was: CRS 944200's `\xac\xed\x00\x05` is in no text. The text first, so
        // that what only the text shows (an overlong `%c0%af` read as `/`) is still found;
        // a negated operator reads the text alone.
        let reads_bytes =
            !rule.operator_negated && (!self.request.not_utf8.is_empty() || self.request.body_not_utf8().is_some());
        let mut matches = Vec::new();
        for (name, value) in all_values {
            let as_they_came = |transformed: &str| {
                if reads_bytes {
                    self.bytes_as_they_came(&name, &value, transformed)
                } else {
                    None
                }
            };
            if rule.multi_match {
                for stage in rule.transformations.stages(&value) {
                    matches.extend(test_value(rule, operator, not_utf8, &name, stage, as_they_came));
                }
            } else {
                let transformed = rule.transformations.apply(&value);
                matches.extend(test_value(rule, operator, not_utf8, &name, transformed, as_they_came));
            }
        }

        Ok(matches)
    }

    /// The bytes `value` came as, when they were not UTF-8 and `transformed` is still the
    /// value's text.
    fn bytes_as_they_came(&self, name: &str, value: &str, transformed: &str) -> Option<&[u8]> {
        let raw = if name == "REQUEST_BODY" {
            // The body's text is made by now: it is the value.
            self.request.body_not_utf8()?
        } else {
            self.request.not_utf8.get(value)?
        };
        (transformed == value).then_some(raw)
    }
}

/// The operator on one transformed value of the variable `name` (and, where the text did
/// not match, on the bytes it came as, if `as_they_came` gives them).
fn test_value<'a>(
    rule: &CompiledRule,
    operator: &dyn Operator,
    not_utf8: Option<&HashMap<String, Vec<u8>>>,
    name: &str,
    transformed: Cow<'_, str>,
    as_they_came: impl Fn(&str) -> Option<&'a [u8]>,
) -> Option<RuleMatch> {
    let result = match not_utf8 {
        Some(texts) if texts.contains_key(transformed.as_ref()) => OperatorResult::matched("invalid UTF-8".to_string()),
        _ => {
            let on_text = operator.execute(&transformed);
            if on_text.matched {
                on_text
            } else {
                let on_bytes = as_they_came(&transformed).and_then(|raw| operator.execute_bytes(raw));
                on_bytes.filter(|found| found.matched).unwrap_or(on_text)
            }
        }
    };
    let final_match = if rule.operator_negated { !result.matched } else { result.matched };
    final_match.then(|| {
        let matched = MatchedVariable {
            name: name.to_string(),
            // ModSecurity's MATCHED_VAR is the *variable's* value, not
            // the portion the operator hit. The portion is reported
            // separately, since an audit log wants both: the value to
            // judge the match, the portion to see what triggered it.
            value: transformed.into_owned(),
            portion: result.matched_value,
        };
        RuleMatch { variable: Some(matched), captures: result.captures }
    })
}
