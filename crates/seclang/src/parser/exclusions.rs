//! The directives that change rules defined elsewhere (the ones CRS's exclusion files and
//! their examples use): `SecRuleRemoveById`, `…ByTag` and `…ByMsg` take rules out;
//! `SecRuleUpdateTargetById`, `…ByTag` and `…ByMsg` spare them targets;
//! `SecRuleUpdateActionById` changes what a rule does when it matches.
use super::{action, variable, Action, Directive, FlowAction, Lexer, MetadataAction, Parser};
use super::{RuleIdSelector, RuleSelector, UpdateTarget};
use crate::error::{Error, Result};

/// What a by-tag or by-message directive does to the rules it names.
#[derive(Clone, Copy)]
pub(super) enum Change {
    Remove,
    UpdateTarget,
}

impl Parser {
    /// `SecRuleUpdateActionById ID "ACTIONS"` (CRS's examples: `949110 "t:none,deny,status:404"`,
    /// `901150 "nolog"`): one rule's actions, merged as ModSecurity's reference manual says —
    /// a disruptive action replaces the rule's, an action a rule holds once (`status`,
    /// `msg`, `log`…) replaces its own, and those it may hold many of (`t:`, `setvar`,
    /// `tag`, `ctl`) are added after its own. A rule's id, phase and chain cannot change.
    pub(super) fn parse_secruleupdateactionbyid(&mut self, lexer: &mut Lexer) -> Result<Directive> {
        let id_text = self.expect_argument(lexer, "SecRuleUpdateActionById id")?;
        let id = id_text.trim().parse::<u64>().map_err(|_| {
            Error::parse(format!("SecRuleUpdateActionById: `{id_text}` is not one rule id"), self.location.to_string())
        })?;
        let actions = action::parse_actions(&self.expect_argument(lexer, "SecRuleUpdateActionById actions")?)?;
        let fixed = |a: &Action| {
            matches!(
                a,
                Action::Metadata(MetadataAction::Id(_) | MetadataAction::Phase(_)) | Action::Flow(FlowAction::Chain)
            )
        };
        if actions.iter().any(fixed) {
            let message = "SecRuleUpdateActionById cannot change a rule's id, phase or chain";
            return Err(Error::parse(message, self.location.to_string()));
        }
        Ok(Directive::SecRuleUpdateActionById { id, actions })
    }

    /// Parse a SecRuleRemoveById directive.
    ///
    /// ModSecurity allows multiple IDs and ID ranges in a single directive,
    /// e.g. `SecRuleRemoveById 1 2 "9000-9010"`. IDs may appear as several
    /// arguments and/or space-separated inside one (quoted) argument.
    pub(super) fn parse_secruleremovebyid(&mut self, lexer: &mut Lexer) -> Result<Directive> {
        let mut ids = Vec::new();
        loop {
            let arg = self.expect_argument(lexer, "SecRuleRemoveById")?;
            ids.extend(self.parse_id_selectors(&arg, "SecRuleRemoveById")?);
            if !self.peek_more_arguments(lexer) {
                break;
            }
        }
        Ok(Directive::SecRuleRemove(RuleSelector::Ids(ids)))
    }

    /// Parse a SecRuleUpdateTargetById directive.
    ///
    /// Syntax: `SecRuleUpdateTargetById ID TARGET1[|TARGET2|...] [REPLACED_TARGET]`
    /// where ID is a rule ID or ID range (space-separated lists accepted when
    /// quoted), targets may be `!`-prefixed exclusions, and the optional third
    /// argument names an existing target to replace.
    pub(super) fn parse_secruleupdatetargetbyid(&mut self, lexer: &mut Lexer) -> Result<Directive> {
        let ids_str = self.expect_argument(lexer, "SecRuleUpdateTargetById id")?;
        let ids = self.parse_id_selectors(&ids_str, "SecRuleUpdateTargetById")?;
        self.parse_target_update(lexer, "SecRuleUpdateTargetById", RuleSelector::Ids(ids))
    }

    /// A target update's targets (and the target they replace), for `rules`.
    fn parse_target_update(&mut self, lexer: &mut Lexer, name: &str, rules: RuleSelector) -> Result<Directive> {
        let targets_str = self.expect_argument(lexer, &format!("{name} targets"))?;
        let (additions, exclusions) = variable::parse_update_targets(&targets_str)?;
        if additions.is_empty() && exclusions.is_empty() {
            return Err(Error::parse(format!("{name} requires at least one target"), self.location.to_string()));
        }

        let replaced = if self.peek_more_arguments(lexer) {
            Some(self.expect_argument(lexer, &format!("{name} replaced target"))?)
        } else {
            None
        };

        Ok(Directive::SecRuleUpdateTarget(UpdateTarget {
            rules,
            additions,
            exclusions,
            replaced,
            location: self.location.clone(),
        }))
    }

    /// `SecRuleRemoveByTag TAG` or `…ByMsg MSG` (one argument, as in libmodsecurity, which
    /// refuses a second), or `SecRuleUpdateTargetByTag TAG TARGETS [REPLACED]` or `…ByMsg`.
    pub(super) fn parse_by_text(
        &mut self,
        lexer: &mut Lexer,
        name: &str,
        change: Change,
        selector: fn(String) -> RuleSelector,
    ) -> Result<Directive> {
        let rules = selector(self.expect_argument(lexer, name)?);
        match change {
            Change::UpdateTarget => self.parse_target_update(lexer, name, rules),
            Change::Remove if self.peek_more_arguments(lexer) => {
                Err(Error::parse(format!("{name} takes one argument"), self.location.to_string()))
            }
            Change::Remove => Ok(Directive::SecRuleRemove(rules)),
        }
    }

    /// Parse a whitespace-separated list of rule IDs and inclusive ID ranges
    /// (`942100` or `942100-942199`).
    fn parse_id_selectors(&self, input: &str, context: &str) -> Result<Vec<RuleIdSelector>> {
        let mut selectors = Vec::new();
        for token in input.split_whitespace() {
            let selector = if let Some((start, end)) = token.split_once('-') {
                let start: u64 = start.trim().parse().map_err(|_| {
                    Error::parse(format!("{context}: invalid rule id range '{token}'"), self.location.to_string())
                })?;
                let end: u64 = end.trim().parse().map_err(|_| {
                    Error::parse(format!("{context}: invalid rule id range '{token}'"), self.location.to_string())
                })?;
                if start > end {
                    return Err(Error::parse(
                        format!("{context}: invalid rule id range '{token}' (start > end)"),
                        self.location.to_string(),
                    ));
                }
                RuleIdSelector::Range(start, end)
            } else {
                RuleIdSelector::Single(token.parse().map_err(|_| {
                    Error::parse(format!("{context}: invalid rule id '{token}'"), self.location.to_string())
                })?)
            };
            selectors.push(selector);
        }
        if selectors.is_empty() {
            return Err(Error::parse(format!("{context}: expected at least one rule id"), self.location.to_string()));
        }
        Ok(selectors)
    }
}
