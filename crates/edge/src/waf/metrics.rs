//! The WAF's counters (one set per process, kept across reloads) and its part of
//! `/metrics` (Prometheus text).
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct WafCounters {
    /// Requests the rules ran on.
    pub evaluations: AtomicU64,
    /// Requests refused (block mode).
    pub blocked_requests: AtomicU64,
    /// Requests that would have been refused (detect mode).
    pub would_block: AtomicU64,
    /// Requests whose inspection ran out of time.
    pub over_budget: AtomicU64,
    /// Requests whose body was longer than the inspection limit.
    pub body_over_limit: AtomicU64,
    /// Uploads that waited for room (`upload_memory`).
    pub upload_waits: AtomicU64,
    /// Uploads that found none in time: answered 503, or passed judged in part.
    pub upload_no_room: AtomicU64,
    /// Refused requests by each rule that matched in them: bounded by the ruleset's ids.
    blocked_by_rule: Mutex<BTreeMap<String, u64>>,
}

impl WafCounters {
    pub fn count_block(&self, rules: &[String]) {
        self.blocked_requests.fetch_add(1, Ordering::Relaxed);
        let mut by_rule = self.blocked_by_rule.lock().unwrap_or_else(|e| e.into_inner());
        for rule in rules {
            *by_rule.entry(rule.clone()).or_default() += 1;
        }
    }

    pub fn render(&self, out: &mut String) {
        let counter = |out: &mut String, name: &str, help: &str, value: &AtomicU64| {
            let v = value.load(Ordering::Relaxed);
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(out, "forecourt_waf_evaluations_total", "Requests the WAF's rules ran on.", &self.evaluations);
        counter(out, "forecourt_waf_blocked_requests_total", "Requests the WAF refused.", &self.blocked_requests);
        counter(
            out,
            "forecourt_waf_would_block_total",
            "Requests the WAF would have refused (mode = \"detect\").",
            &self.would_block,
        );
        counter(
            out,
            "forecourt_waf_over_budget_total",
            "Requests whose inspection ran out of time (inspection_budget).",
            &self.over_budget,
        );
        counter(
            out,
            "forecourt_waf_body_over_limit_total",
            "Request bodies past request_body_limit (an upload: past upload_limit, or its data other than files past request_body_limit).",
            &self.body_over_limit,
        );
        counter(
            out,
            "forecourt_waf_upload_waits_total",
            "Uploads that waited for room to be read whole (upload_memory).",
            &self.upload_waits,
        );
        counter(
            out,
            "forecourt_waf_upload_no_room_total",
            "Uploads that found no room in time (upload_memory): answered 503, or passed judged in part.",
            &self.upload_no_room,
        );
        let name = "forecourt_waf_blocked_total";
        let _ =
            writeln!(out, "# HELP {name} Refused requests, by each rule that matched in them.\n# TYPE {name} counter");
        for (rule, n) in self.blocked_by_rule.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "{name}{{rule=\"{rule}\"}} {n}");
        }
    }
}
