//! The optional JSON audit log (`audit_log = "/var/log/forecourt/waf.json"`): one line
//! per request the WAF blocked, would have blocked, or could not finish inspecting — when,
//! which request (its id, client, method, target), the verdict, the rules, the variable
//! and the score. Appended with one write per line, so lines from every worker stay whole.
use super::verdict::Verdict;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct AuditLog {
    path: String,
    file: File,
}

/// One audited request.
pub struct Entry<'a> {
    pub policy: &'a str,
    pub request_id: &'a str,
    pub client: std::net::IpAddr,
    pub method: &'a str,
    pub target: &'a str,
    pub action: &'a str,
    pub verdict: &'a Verdict,
}

impl AuditLog {
    pub fn open(path: &str) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog { path: path.to_string(), file })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn write(&self, e: &Entry<'_>) {
        if !e.verdict.audited {
            return;
        }
        let time = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let line = serde_json::json!({
            "time": time,
            "waf": e.policy,
            "request_id": e.request_id,
            "client": e.client.to_string(),
            "method": e.method,
            "target": e.target,
            "action": e.action,
            "rules": e.verdict.rules,
            "variable": e.verdict.variable,
            "score": e.verdict.score,
        });
        let mut text = line.to_string();
        text.push('\n');
        if let Err(error) = (&self.file).write_all(text.as_bytes()) {
            tracing::warn!(path = %self.path, %error, "cannot write the WAF audit log");
        }
    }
}
