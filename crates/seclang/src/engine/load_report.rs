//! What a rule set asks for that this engine cannot do, said once when it loads: a
//! `ctl:` directive it does not implement, an `XML:` selector beyond `/*` and `//@*`,
//! rules whose every target is a variable it does not resolve, and rules whose operator
//! it does not have (both can never match). An operator learns at startup that part of a rule set is dead, rather than
//! from an attack that passed.
//!
//! Each kind is one warning per distinct directive or variable, naming the rules:
//! CRS 3.3's persistent collections alone touch a dozen rules, and a line per rule
//! buried the message.

use crate::parser::{Directive, OperatorName, Selection, VariableName, VariableSpec, XmlTarget};
use std::collections::BTreeMap;

/// Dead rules, gathered while a rule set compiles and reported when it is done.
#[derive(Default)]
pub struct LoadReport {
    /// Variable (as SecLang writes it) → the rules that target nothing but such variables.
    unresolved: BTreeMap<&'static str, Vec<String>>,
    /// Operator (as SecLang writes it) → the rules that use it.
    no_operator: BTreeMap<&'static str, Vec<String>>,
    /// The last rule id seen: a chained rule has none of its own, and is named by its
    /// chain's first rule, which comes just before it.
    chain_start: Option<String>,
}

impl LoadReport {
    /// Looks at one rule's targets.
    ///
    /// A variable this engine does not resolve always resolves to nothing, so a rule
    /// that targets only such variables is dead. (Under a negated operator it used to
    /// be worse than dead: an empty result was reported as a match, so `SecRule
    /// REQUEST_LINE "!@rx ..."` — CRS 920100 — denied every request. The evaluator no
    /// longer inverts absence into a match.) Only rules whose targets are *all*
    /// unresolvable count: CRS routinely writes `ARGS|ARGS_NAMES|XML:/*`, where one
    /// unsupported target costs nothing because the rule still inspects the others.
    pub fn rule(&mut self, variables: &[VariableSpec], rule_id: &Option<String>) {
        report_unsupported_xml_selectors(variables, rule_id);
        if rule_id.is_some() {
            self.chain_start.clone_from(rule_id);
        }
        if variables.is_empty() || variables.iter().any(|v| v.name.is_implemented()) {
            return;
        }
        let id = self.name_of(rule_id);
        for v in variables {
            let rules = self.unresolved.entry(v.name.seclang_name()).or_default();
            if !rules.contains(&id) {
                rules.push(id.clone());
            }
        }
    }

    /// Looks at one rule's operator (after `rule`, which keeps track of chains).
    pub fn operator(&mut self, operator: &OperatorName, rule_id: &Option<String>) {
        let Some(name) = crate::operators::missing(operator) else { return };
        let id = self.name_of(rule_id);
        let rules = self.no_operator.entry(name).or_default();
        if !rules.contains(&id) {
            rules.push(id);
        }
    }

    fn name_of(&self, rule_id: &Option<String>) -> String {
        match (rule_id, &self.chain_start) {
            (Some(id), _) => id.clone(),
            (None, Some(start)) => format!("{start} (its chain)"),
            (None, None) => "(a rule without an id)".to_string(),
        }
    }

    /// Says what was found: one warning per variable and per operator.
    pub fn finish(self) {
        for (operator, rules) in self.no_operator {
            tracing::warn!(
                operator,
                rules = %rules.join(","),
                instead = operator_substitute(operator),
                "rules whose operator this engine does not have can never match; \
                 the rest of the rule set was loaded"
            );
        }
        for (variable, rules) in self.unresolved {
            tracing::warn!(
                variable,
                rules = %rules.join(","),
                instead = substitute(variable),
                "rules that target only a variable this engine does not resolve can never match; \
                 the rest of the rule set was loaded"
            );
        }
    }
}

/// What does that operator's job in Forecourt, where something does.
fn operator_substitute(operator: &str) -> &'static str {
    match operator {
        // CRS 3.3's 910 rules: Project Honeypot's blocklist, and countries.
        "@rbl" => "[lists] (IP lists and reputation feeds)",
        "@geoLookup" => "[geoip] (countries and ASNs)",
        _ => "",
    }
}

/// What does that variable's job in Forecourt, where something does.
fn substitute(variable: &str) -> &'static str {
    match variable {
        // CRS 3.3's DoS protection (912) and IP reputation (910) keep counters in them.
        "IP" | "GLOBAL" | "SESSION" | "USER" | "RESOURCE" => "[limits] and [bans] (rate limits and bans)",
        "GEO" => "[geoip] (countries and ASNs)",
        _ => "",
    }
}

/// Warns about `XML:` targets that name an XPath expression this engine cannot
/// express.
///
/// `XML:/*` and `XML://@*` are answered from the flattened body and cover every
/// `XML:` target in the stock OWASP CRS. Anything richer needs a real XPath
/// evaluator, and a rule asking for one inspects nothing through that target.
fn report_unsupported_xml_selectors(variables: &[VariableSpec], rule_id: &Option<String>) {
    for var in variables {
        if var.name != VariableName::Xml || XmlTarget::from_selection(var.selection.as_ref()).is_some() {
            continue;
        }
        let selector = match &var.selection {
            Some(Selection::Key(k)) => k.clone(),
            Some(Selection::Regex(r)) => format!("/{r}/"),
            None => String::new(),
        };
        tracing::warn!(
            rule_id = %rule_id.as_deref().unwrap_or("(no id)"),
            selector = %selector,
            "rule selects XML with an XPath expression this engine cannot \
             evaluate; only XML:/* and XML://@* are supported, and this target \
             will match nothing"
        );
    }
}

/// Warns once per distinct unsupported `ctl:` directive found in a rule set.
///
/// Deduplicated by `directive=value`: a rule set may apply the same `ctl:` to hundreds
/// of rules, and one line per rule would bury the message it is trying to deliver.
pub fn report_unsupported_controls(directives: &[Directive]) {
    let mut seen: BTreeMap<String, (&'static str, usize)> = BTreeMap::new();
    for directive in directives {
        let actions = match directive {
            Directive::SecRule(rule) => &rule.actions,
            Directive::SecAction(action) => &action.actions,
            _ => continue,
        };
        for (name, value, reason) in super::control::unsupported_controls(actions) {
            let key = if value.is_empty() { name } else { format!("{name}={value}") };
            seen.entry(key).or_insert((reason, 0)).1 += 1;
        }
    }
    for (spec, (reason, count)) in seen {
        tracing::warn!(
            directive = %spec,
            rules_affected = count,
            reason = %reason,
            "ctl: directive is not implemented and will have no effect"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_variables(text: &str) -> Result<Vec<VariableSpec>, ()> {
        text.split('|').map(|one| crate::parser::parse_single_variable(one).map_err(|_| ())).collect()
    }

    #[test]
    fn rules_with_an_operator_this_engine_does_not_have_are_named() {
        let mut report = LoadReport::default();
        report.rule(&parse_variables("REMOTE_ADDR").unwrap(), &Some("910120".into()));
        report.operator(&OperatorName::Rbl, &Some("910120".into()));
        report.rule(&parse_variables("ARGS").unwrap(), &None);
        report.operator(&OperatorName::Rbl, &None);
        report.operator(&OperatorName::VerifyCc, &Some("920999".into()));
        report.operator(&OperatorName::Rx, &Some("942100".into()));
        let found: Vec<(&str, Vec<String>)> = report.no_operator.into_iter().collect();
        assert_eq!(found, [("@rbl", vec!["910120".to_string(), "910120 (its chain)".to_string()])]);
    }

    #[test]
    fn a_rule_is_dead_only_when_every_target_is_unresolved() {
        let mut report = LoadReport::default();
        report.rule(&parse_variables("IP:REPUT_BLOCK_FLAG").unwrap(), &Some("949100".into()));
        report.rule(&parse_variables("IP:DOS_BLOCK|GLOBAL:X").unwrap(), &Some("912120".into()));
        report.rule(&parse_variables("IP:X").unwrap(), &None);
        report.rule(&parse_variables("REQUEST_URI").unwrap(), &Some("912130".into()));
        report.rule(&parse_variables("IP:Y").unwrap(), &None);
        report.rule(&parse_variables("ARGS|GEO:COUNTRY_CODE").unwrap(), &Some("1".into()));
        report.rule(&parse_variables("UNIQUE_ID").unwrap(), &Some("901410".into()));
        report.rule(&parse_variables("DURATION").unwrap(), &Some("901420".into()));
        let found: Vec<(&str, Vec<String>)> = report.unresolved.into_iter().collect();
        assert_eq!(
            found,
            vec![
                ("GLOBAL", vec!["912120".to_string()]),
                (
                    "IP",
                    vec!["949100", "912120", "912120 (its chain)", "912130 (its chain)"]
                        .into_iter()
                        .map(String::from)
                        .collect()
                ),
            ]
        );
        assert_eq!(substitute("IP"), "[limits] and [bans] (rate limits and bans)");
    }
}
