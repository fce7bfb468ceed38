//! Settings of the whole process that requests read: client timeouts and limits, trusted
//! proxies, the access log.
use crate::access_log::AccessLog;
use crate::cidr::TrustedProxies;
use std::sync::Arc;
use std::time::Duration;

/// The longest any configured or requested duration may be, ten years: a timer, expiry,
/// TTL or ban derived from one (a clock reading plus it, a count of milliseconds) stays
/// in range, where a `Duration` near its own limit overflowed and panicked. The config
/// refuses longer ones; a ban asked for longer through the admin API is cut to it.
pub const LONGEST_DURATION: Duration = Duration::from_secs(3650 * 86_400);

/// Client-side timeouts and limits.
#[derive(Clone, Debug)]
pub struct ClientLimits {
    /// Time to receive a complete request head once its first byte has arrived.
    pub header_timeout: Duration,
    /// Longest wait between two reads of a request body.
    pub body_timeout: Duration,
    /// The slowest a request body may arrive on average, once its grace time is over
    /// (a slow-body attack sends a byte just before each `body_timeout`).
    pub min_body_rate: Option<MinRate>,
    /// Longest wait for an HTTP/1 client to take more of a response (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// How long an idle keep-alive connection is kept open.
    pub keepalive_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub max_uri_bytes: usize,
    /// Default request body limit of routes that set none.
    pub max_body: Option<u64>,
    /// What a request target with bytes past ASCII gets.
    pub non_ascii_targets: NonAsciiTargets,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            min_body_rate: Some(MinRate::DEFAULT),
            send_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            max_body: None,
            non_ascii_targets: NonAsciiTargets::Refuse,
        }
    }
}

/// What a request target with bytes past ASCII gets (`[global.limits] non_ascii_targets`).
/// They are not URI characters (RFC 3986 §2): browsers percent-encode them, and clients
/// that send them raw (curl, Go's client, a replayed log) leave their charset unsaid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonAsciiTargets {
    /// 400, as RFC 9112 §3.2 advises and HAProxy answers: the next hop may read the bytes
    /// in another charset (Latin-1 or UTF-8, overlong forms) than a filter here judged them
    /// in, which is how security filters along the chain are bypassed.
    Refuse,
    /// Percent-encoded as a browser sends them (`/caf%C3%A9`) and served, as nginx serves
    /// them: one resource, one target for routes, cache keys, the WAF and the upstream.
    Escape,
}

/// A minimum average rate: `bytes_per_sec`, from `grace` after the start on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinRate {
    pub bytes_per_sec: u64,
    pub grace: Duration,
}

impl MinRate {
    /// 256 bytes a second after 10 s: no real client is that slow, a slow-body attack is.
    pub const DEFAULT: MinRate = MinRate { bytes_per_sec: 256, grace: Duration::from_secs(10) };

    /// When a body that started at `start` and has brought `seen` bytes falls under the
    /// rate if nothing more comes.
    pub fn deadline(&self, start: std::time::Instant, seen: u64) -> std::time::Instant {
        let earned = Duration::from_secs_f64(seen as f64 / self.bytes_per_sec.max(1) as f64);
        start + self.grace.max(earned)
    }
}

pub struct Settings {
    pub client: ClientLimits,
    pub trusted_proxies: TrustedProxies,
    pub access_log: Option<Arc<AccessLog>>,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            client: ClientLimits::default(),
            trusted_proxies: TrustedProxies::default(),
            access_log: None,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
