//! One request/response exchange, closed exactly once when the response body ends or is
//! dropped: the access log line and the metrics.
use crate::access_log::{AccessLog, LogFields};
use crate::metrics::{Metrics, RouteStats};
use forecourt_upstream::limit::Slot;
use forecourt_upstream::state::InFlight;
use std::sync::Arc;
use std::time::Instant;

pub struct Exchange {
    started: Instant,
    metrics: &'static Metrics,
    pub status: u16,
    bytes: u64,
    stats: Option<Arc<RouteStats>>,
    log: Option<(Arc<AccessLog>, Box<LogFields>)>,
    /// The upstream server answering, counted in flight until the response has gone.
    in_flight: Option<InFlight>,
    /// The upstream's request slot (`max_requests`), held as long.
    slot: Option<Slot>,
}

impl Exchange {
    pub fn start(started: Instant, metrics: &'static Metrics) -> Exchange {
        Exchange { started, metrics, status: 0, bytes: 0, stats: None, log: None, in_flight: None, slot: None }
    }

    pub fn set_route_stats(&mut self, stats: Arc<RouteStats>) {
        self.stats = Some(stats);
    }

    /// Logging is on for this request: these fields go into its line.
    pub fn set_log(&mut self, log: Arc<AccessLog>, fields: Box<LogFields>) {
        self.log = Some((log, fields));
    }

    pub fn hold(&mut self, in_flight: InFlight) {
        self.in_flight = Some(in_flight);
    }

    pub fn hold_slot(&mut self, slot: Slot) {
        self.slot = Some(slot);
    }

    pub fn log_fields(&mut self) -> Option<&mut LogFields> {
        self.log.as_mut().map(|(_, f)| &mut **f)
    }

    /// A field of a filter's own for the access log line (cache status, rule ids, the
    /// user): dropped when the log is off.
    pub fn add_log_field(&mut self, name: &'static str, value: String) {
        if let Some(fields) = self.log_fields() {
            fields.extra.push((name, value));
        }
    }

    pub fn sent(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    pub fn finish(self, complete: bool) {
        let duration = self.started.elapsed();
        self.metrics.observe_request(duration);
        if let Some(stats) = &self.stats {
            stats.count(self.status);
        }
        if let Some((log, mut fields)) = self.log {
            fields.status = self.status;
            fields.bytes = self.bytes;
            fields.duration = duration;
            fields.complete = complete;
            log.write(&fields);
        }
    }
}
