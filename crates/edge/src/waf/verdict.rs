//! What the rules decided about one request, and the evidence: the rules that matched
//! (their ids, the first variable an attack rule matched on) and CRS's inbound anomaly
//! score — for the access log, the audit log and the counters. Never for the client.
use forecourt_seclang::variables::Collection;
use forecourt_seclang::Transaction;

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// The rules would refuse it (an `intervention`), with the status they ask for, or
    /// send the client elsewhere (`redirect:`).
    Block {
        status: u16,
        redirect: Option<String>,
    },
    /// The inspection budget ran out before every rule had run.
    OutOfTime,
}

impl Outcome {
    /// The logs' word for this outcome as the policy acted on it (`refused`), for a
    /// request or (`response`) a response: `blocked`, `would_block`, `over_budget_passed`,
    /// `response_blocked`, …
    pub fn action(&self, refused: bool, response: bool) -> &'static str {
        match (self, refused, response) {
            (Outcome::Pass, _, false) => "pass",
            (Outcome::Pass, _, true) => "response_pass",
            (Outcome::Block { .. }, true, false) => "blocked",
            (Outcome::Block { .. }, false, false) => "would_block",
            (Outcome::Block { .. }, true, true) => "response_blocked",
            (Outcome::Block { .. }, false, true) => "response_would_block",
            (Outcome::OutOfTime, true, false) => "over_budget_blocked",
            (Outcome::OutOfTime, false, false) => "over_budget_passed",
            (Outcome::OutOfTime, true, true) => "response_over_budget_blocked",
            (Outcome::OutOfTime, false, true) => "response_over_budget_passed",
        }
    }
}

pub struct Verdict {
    pub outcome: Outcome,
    /// Ids of the rules that reported an attack (or decided), in order, once each.
    pub rules: Vec<String>,
    /// The variable the last attack rule matched (never CRS's own `TX:`): `ARGS:q`.
    pub variable: Option<String>,
    pub score: i64,
    /// Whether the audit log takes it: a rule may keep a transaction out
    /// (`ctl:auditEngine=Off`, as CRS 3's 905100 does for the server's own checks).
    pub audited: bool,
}

impl Verdict {
    pub fn of(tx: &Transaction) -> Verdict {
        let outcome = match (tx.intervention(), tx.out_of_time()) {
            (Some(i), _) => Outcome::Block { status: i.status, redirect: i.url.clone() },
            (None, true) => Outcome::OutOfTime,
            (None, false) => Outcome::Pass,
        };
        let score = inbound_score(tx);
        let audited = !tx.audit_off();
        let mut rules: Vec<String> = Vec::new();
        let mut variable = None;
        if outcome == Outcome::Pass && score == 0 {
            // Nothing to record (the common request): no evidence gathered.
            return Verdict { outcome, rules, variable, score, audited };
        }
        // Rules with a severity report an attack (or the decision); the rest is CRS's
        // bookkeeping, which matches on every request.
        for m in tx.matched_data().iter().filter(|m| m.severity.is_some()) {
            let Some(id) = &m.rule_id else { continue };
            if !rules.contains(id) {
                rules.push(id.clone());
            }
            // The last such variable: a chain's starter often matches on something every
            // request has (CRS's 920170 on `REQUEST_METHOD`), its last link on the attack.
            if !m.variable.starts_with("TX:") && !m.variable.starts_with('&') {
                variable = Some(m.variable.clone());
            }
        }
        if let Some(id) = tx.intervention().and_then(|i| i.rule_ids.last().cloned()) {
            if !rules.contains(&id) {
                rules.push(id);
            }
        }
        Verdict { outcome, rules, variable, score, audited }
    }

    /// Anything to record: a decision other than pass, or rules that matched.
    pub fn noteworthy(&self) -> bool {
        self.outcome != Outcome::Pass || self.score > 0
    }
}

/// CRS 4 keeps the inbound score in `blocking_inbound_anomaly_score`, CRS 3 in
/// `anomaly_score` (its `inbound_anomaly_score` is set only once blocking evaluation ran).
fn inbound_score(tx: &Transaction) -> i64 {
    ["blocking_inbound_anomaly_score", "inbound_anomaly_score", "anomaly_score"]
        .iter()
        .filter_map(|name| tx.tx().get(name).and_then(|v| v.first().and_then(|s| s.parse::<i64>().ok())))
        .max()
        .unwrap_or(0)
}
