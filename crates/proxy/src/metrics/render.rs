//! The Prometheus text exposition of the metrics.
use super::{Metrics, BUCKETS};
use crate::answers::reason::Reason;
use forecourt_tls::auto::ManagedCerts;
use forecourt_upstream::state::{Registry, LATENCY_BUCKETS};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

impl Metrics {
    /// The Prometheus text exposition of everything: the request path's metrics, the
    /// upstream servers' state and the automatic certificates'.
    pub fn render(&self, upstreams: &Registry, certificates: &ManagedCerts) -> String {
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        family(o, "forecourt_requests_total", "counter", "Requests answered, by route and status class.");
        for (route, stats) in self.routes.lock().unwrap().iter() {
            for (i, c) in stats.by_class.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "forecourt_requests_total{{route=\"{}\",class=\"{}xx\"}} {}",
                    escape(route),
                    i + 1,
                    c.get()
                );
            }
        }
        family(
            o,
            "forecourt_request_duration_seconds",
            "histogram",
            "Time from request head to the end of the response.",
        );
        let mut cumulative = 0;
        for (i, c) in self.latency.buckets.iter().enumerate() {
            cumulative += c.get();
            let le = BUCKETS.get(i).map(|b| b.to_string()).unwrap_or_else(|| "+Inf".into());
            let _ = writeln!(o, "forecourt_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        let sum = self.latency.sum_micros.get() as f64 / 1e6;
        let _ = writeln!(o, "forecourt_request_duration_seconds_sum {sum}");
        let _ = writeln!(o, "forecourt_request_duration_seconds_count {cumulative}");
        family(o, "forecourt_active_connections", "gauge", "Client connections open now.");
        let _ = writeln!(o, "forecourt_active_connections {}", self.active_connections.load(Ordering::Relaxed));
        render_servers(o, upstreams);
        render_local_responses(o, self);
        family(o, "forecourt_h2_connections_closed_total", "counter", "HTTP/2 client connections cut off, by cause.");
        for cause in crate::h2_abuse::Cutoff::ALL {
            let n = self.h2_cutoffs.get(cause);
            let _ = writeln!(o, "forecourt_h2_connections_closed_total{{reason=\"{}\"}} {n}", cause.name());
        }
        family(
            o,
            "forecourt_http1_heads_abandoned_total",
            "counter",
            "HTTP/1 request heads begun and never finished, by what ended them (slowloris: timeout).",
        );
        for (reason, n) in [("timeout", &self.heads_timed_out), ("closed", &self.heads_cut_short)] {
            let _ = writeln!(
                o,
                "forecourt_http1_heads_abandoned_total{{reason=\"{reason}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let pool = &self.pool;
        family(
            o,
            "forecourt_upstream_pool_reused_total",
            "counter",
            "Upstream requests sent on a pooled keep-alive connection.",
        );
        let _ = writeln!(o, "forecourt_upstream_pool_reused_total {}", pool.reused.load(Ordering::Relaxed));
        family(o, "forecourt_upstream_connections_opened_total", "counter", "Upstream connections opened.");
        let _ = writeln!(o, "forecourt_upstream_connections_opened_total {}", pool.opened.load(Ordering::Relaxed));
        family(o, "forecourt_tls_handshake_failures_total", "counter", "TLS handshakes that failed or timed out.");
        let _ = writeln!(
            o,
            "forecourt_tls_handshake_failures_total {}",
            self.tls_handshake_failures.load(Ordering::Relaxed)
        );
        render_certificates(o, certificates);
        family(o, "forecourt_reloads_total", "counter", "Configuration reloads, by result.");
        let _ = writeln!(o, "forecourt_reloads_total{{result=\"ok\"}} {}", self.reloads_ok.load(Ordering::Relaxed));
        let _ =
            writeln!(o, "forecourt_reloads_total{{result=\"error\"}} {}", self.reloads_failed.load(Ordering::Relaxed));
        out
    }
}

/// Answers made here, by reason: every reason is listed, so a rate can be taken at once.
fn render_local_responses(o: &mut String, m: &Metrics) {
    family(o, "forecourt_local_responses_total", "counter", "Answers Forecourt made itself, by reason.");
    for reason in Reason::ALL {
        let _ = writeln!(
            o,
            "forecourt_local_responses_total{{reason=\"{}\"}} {}",
            reason.name(),
            m.local_responses(reason)
        );
    }
}

/// Per upstream server: counters, in flight, state and latency, from the state registry
/// (which keeps servers a reload removed, so their counters do not go backwards).
fn render_servers(o: &mut String, upstreams: &Registry) {
    let servers = upstreams.endpoints();
    type Read = fn(&forecourt_upstream::state::EndpointState) -> u64;
    let families: [(&str, &str, &str, Read); 7] = [
        (
            "forecourt_upstream_requests_total",
            "counter",
            "Tries sent to each upstream server, retries included.",
            |s| s.requests.load(Ordering::Relaxed),
        ),
        (
            "forecourt_upstream_failures_total",
            "counter",
            "Tries that failed (connection, timeout or a failure status).",
            |s| s.failures.load(Ordering::Relaxed),
        ),
        (
            "forecourt_upstream_connect_errors_total",
            "counter",
            "Failed connection attempts to each upstream server.",
            |s| s.connect_errors.load(Ordering::Relaxed),
        ),
        ("forecourt_upstream_retries_total", "counter", "Retries sent to each upstream server.", |s| {
            s.retries.load(Ordering::Relaxed)
        }),
        (
            "forecourt_upstream_health_transitions_total",
            "counter",
            "Times a server went down, up, in or out of ejection.",
            |s| s.transitions.load(Ordering::Relaxed),
        ),
        ("forecourt_upstream_in_flight", "gauge", "Requests with each upstream server now.", |s| {
            u64::from(s.in_flight())
        }),
        ("forecourt_upstream_up", "gauge", "1 if the server takes requests (not down, ejected or drained).", |s| {
            u64::from(matches!(s.describe(), "up" | "ramping"))
        }),
    ];
    for (name, kind, help, read) in families {
        family(o, name, kind, help);
        for ((group, server), s) in &servers {
            let _ = writeln!(o, "{name}{{upstream=\"{}\",server=\"{}\"}} {}", escape(group), escape(server), read(s));
        }
    }
    let name = "forecourt_upstream_response_seconds";
    family(o, name, "histogram", "Time from a try being sent to its response head, per upstream server.");
    for ((group, server), s) in &servers {
        let labels = format!("upstream=\"{}\",server=\"{}\"", escape(group), escape(server));
        let (buckets, sum_us) = s.latency_histogram();
        let mut cumulative = 0;
        for (i, n) in buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BUCKETS.get(i).map(|b| b.to_string()).unwrap_or_else(|| "+Inf".into());
            let _ = writeln!(o, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let _ = writeln!(o, "{name}_sum{{{labels}}} {}", sum_us as f64 / 1e6);
        let _ = writeln!(o, "{name}_count{{{labels}}} {cumulative}");
    }
}

/// Automatic certificates: challenges answered, orders, and per managed name whether it
/// is still on a temporary certificate, its failures in a row and its expiry.
fn render_certificates(o: &mut String, store: &ManagedCerts) {
    family(o, "forecourt_acme_challenges_answered_total", "counter", "ACME challenges answered, by type.");
    for (kind, n) in ["http-01", "tls-alpn-01"].iter().zip(store.answered()) {
        let _ = writeln!(o, "forecourt_acme_challenges_answered_total{{type=\"{kind}\"}} {n}");
    }
    family(o, "forecourt_certificate_issuances_total", "counter", "Automatic certificate orders, by result.");
    for (result, n) in ["ok", "error"].iter().zip(store.issued()) {
        let _ = writeln!(o, "forecourt_certificate_issuances_total{{result=\"{result}\"}} {n}");
    }
    let statuses = store.statuses();
    family(
        o,
        "forecourt_certificate_temporary",
        "gauge",
        "1 while a managed name is served a temporary self-signed certificate (none issued yet).",
    );
    for (name, s) in &statuses {
        let _ = writeln!(o, "forecourt_certificate_temporary{{name=\"{}\"}} {}", escape(name), u8::from(s.temporary));
    }
    family(o, "forecourt_certificate_failures", "gauge", "Failed issuance attempts in a row, per managed name.");
    for (name, s) in &statuses {
        let _ = writeln!(o, "forecourt_certificate_failures{{name=\"{}\"}} {}", escape(name), s.failures);
    }
    family(
        o,
        "forecourt_certificate_expiry_seconds",
        "gauge",
        "When a managed name's certificate expires (Unix time).",
    );
    for (name, s) in statuses.iter().filter(|(_, s)| !s.temporary) {
        let _ = writeln!(
            o,
            "forecourt_certificate_expiry_seconds{{name=\"{}\"}} {}",
            escape(name),
            s.not_after.unwrap_or(0)
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn render_has_cumulative_buckets_and_every_local_reason() {
        let m = Metrics::default();
        m.route("api").count(204);
        m.observe_request(Duration::from_micros(300));
        m.observe_request(Duration::from_millis(30));
        m.count_local(Reason::NoRoute);
        let text = m.render(&Registry::default(), &ManagedCerts::default());
        assert!(text.contains("forecourt_requests_total{route=\"api\",class=\"2xx\"} 1"), "{text}");
        assert!(text.contains("forecourt_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("forecourt_request_duration_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("forecourt_local_responses_total{reason=\"no_route\"} 1"), "{text}");
        assert!(text.contains("forecourt_local_responses_total{reason=\"upstream_timeout\"} 0"), "{text}");
    }
}
