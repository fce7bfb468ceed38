//! `setvar` and macros for `Transaction` (split from `transaction.rs`): `%{...}` in an
//! operator's argument or a `setvar` expanded against the transaction, and a `setvar`
//! applied to TX.
use super::Transaction;
use crate::actions::{SetVarOp, SetVarOperation};
use crate::variables::Collection;

impl Transaction {
    /// Expand `%{...}` macros in an operator argument or a `setvar` against the
    /// transaction: `TX` (thresholds, `tx.allowed_methods`), `REQUEST_HEADERS`, and the
    /// value being matched (`MATCHED_VAR`, `MATCHED_VAR_NAME`); anything else expands
    /// to an empty string, as an unresolved macro does in ModSecurity.
    pub(super) fn expand_macros(&self, arg: &str) -> String {
        // Compiled once: this runs on every evaluation of an operator whose
        // argument contains `%{`.
        static MACRO: once_cell::sync::Lazy<regex::Regex> =
            once_cell::sync::Lazy::new(|| regex::Regex::new(r"%\{([^}]+)\}").expect("static macro regex is valid"));
        MACRO
            .replace_all(arg, |caps: &regex::Captures| {
                let inner = &caps[1];
                // The value being matched, for a rule's own `setvar` (CRS 921170's
                // `tx.paramcounter_%{MATCHED_VAR_NAME}`).
                let matched = self.matched_vars.last();
                if inner.eq_ignore_ascii_case("matched_var") {
                    return matched.map(|(_, value)| value.clone()).unwrap_or_default();
                }
                if inner.eq_ignore_ascii_case("matched_var_name") {
                    return matched.map(|(name, _)| name.clone()).unwrap_or_default();
                }
                // No allocation to name the collection: this runs for every matched rule
                // whose `setvar` adds a score (`+%{tx.critical_anomaly_score}`).
                let (collection, name) = inner.split_once('.').unwrap_or(("tx", inner));
                let first = |values: Option<Vec<&str>>| values.and_then(|v| v.first().map(|s| s.to_string()));
                if collection.eq_ignore_ascii_case("tx") {
                    first(self.tx.get(name))
                } else if collection.eq_ignore_ascii_case("request_headers") {
                    // CRS 931130: `!@endsWith .%{request_headers.host}` (an off-site link).
                    first(self.request.headers.get(&name.to_ascii_lowercase()))
                } else {
                    None
                }
                .unwrap_or_default()
            })
            .into_owned()
    }

    /// Apply a setvar operation.
    pub(super) fn apply_setvar(&mut self, op: &SetVarOp) {
        // A macro-bearing value (e.g. `+%{tx.critical_anomaly_score}`) is
        // resolved here, where TX state is available, then re-interpreted as a
        // concrete set/increment/decrement.
        let named = op.name.contains("%{");
        if named || matches!(op.operation, SetVarOperation::Macro(_)) {
            let name = if named { self.expand_macros(&op.name) } else { op.name.clone() };
            let operation = match &op.operation {
                SetVarOperation::Macro(raw) => interpret_setvar_rhs(&self.expand_macros(raw)),
                other => other.clone(),
            };
            let resolved = SetVarOp { collection: op.collection.clone(), name, operation };
            crate::actions::apply_setvar(&mut self.tx, &resolved);
        } else {
            crate::actions::apply_setvar(&mut self.tx, op);
        }

        // Sync anomaly score from TX if relevant
        if op.name == "anomaly_score" {
            self.anomaly_score.sync_from_tx(&self.tx);
        }
    }
}

/// Interpret an already-expanded setvar right-hand side into a concrete
/// operation, honouring a leading `+`/`-` for increment/decrement. An empty or
/// non-numeric increment/decrement (e.g. an unresolved macro) becomes a no-op.
fn interpret_setvar_rhs(value: &str) -> SetVarOperation {
    if let Some(rest) = value.strip_prefix('+') {
        SetVarOperation::Increment(rest.trim().parse().unwrap_or(0))
    } else if let Some(rest) = value.strip_prefix('-') {
        SetVarOperation::Decrement(rest.trim().parse().unwrap_or(0))
    } else {
        SetVarOperation::Set(value.to_string())
    }
}
