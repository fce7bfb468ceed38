//! The configuration file as written: plain serde types, with spans kept on the values that
//! later checks may need to point at. Field names are the product's surface (DESIGN.md).
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

mod bans;
mod cache;
mod challenge;
mod compress;
mod geoip;
mod limits;
mod redis;
mod switch;
mod upstream;
mod waf;
pub use bans::{BanRuleCfg, BansCfg};
pub use cache::*;
pub use challenge::{ChallengeCfg, ChallengeRuleCfg};
pub use compress::*;
pub use geoip::GeoipCfg;
pub use limits::{LimitCfg, ListCfg};
pub use redis::RedisCfg;
pub use upstream::*;
pub use waf::{ExclusionCfg, RuleIds, WafCfg};

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub global: Global,
    #[serde(default)]
    pub listen: Vec<Listen>,
    #[serde(default)]
    pub route: Vec<RouteCfg>,
    #[serde(default)]
    pub upstream: BTreeMap<String, UpstreamCfg>,
    pub tls: Option<TlsCfg>,
    pub acme: Option<Spanned<AcmeCfg>>,
    pub cache: Option<Spanned<CacheCfg>>,
    /// Defaults for every route's `compress`.
    pub compress: Option<Spanned<CompressCfg>>,
    /// Named rate limits.
    #[serde(default)]
    pub limits: BTreeMap<String, Spanned<LimitCfg>>,
    /// Named address lists, for `allow` / `deny`.
    #[serde(default)]
    pub lists: BTreeMap<String, Spanned<ListCfg>>,
    /// Bans, and the rules that start them.
    pub bans: Option<BansCfg>,
    /// Challenge pages, and the rules that pick who gets one.
    pub challenge: Option<Spanned<ChallengeCfg>>,
    /// Country and ASN of each client.
    pub geoip: Option<Spanned<GeoipCfg>>,
    /// Where instances share limits and bans.
    pub redis: Option<Spanned<RedisCfg>>,
    /// Named WAF policies, for the routes' `waf` (and `[global] waf`).
    #[serde(default)]
    pub waf: BTreeMap<String, Spanned<WafCfg>>,
}

/// `[acme]`: certificates ordered automatically for the hosts of routes on TLS listeners.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AcmeCfg {
    /// The account's contact address (the CA writes about expiring certificates).
    pub email: Option<Spanned<String>>,
    /// The directory URL, or "letsencrypt" (default) / "letsencrypt-staging".
    pub directory: Option<Spanned<String>>,
    /// CA certificates (PEM) to verify the directory's HTTPS with; default: the system's.
    pub ca_bundle: Option<Spanned<String>>,
    /// External account binding (ZeroSSL, Google, a company CA): key ID and HMAC key
    /// (base64url).
    pub eab_kid: Option<Spanned<String>>,
    pub eab_hmac_key: Option<Spanned<String>>,
    /// "http-01", "tls-alpn-01", in order of preference; default: both.
    pub challenges: Option<Spanned<Vec<Spanned<String>>>>,
    /// More names to get certificates for, beyond the routes' hosts.
    #[serde(default)]
    pub names: Vec<Spanned<String>>,
    /// Routes' hosts that get no automatic certificate.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
}

/// `[tls]`: what listeners with `tls = true` serve.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsCfg {
    /// "intermediate" (default) or "modern".
    pub policy: Option<Spanned<String>>,
    /// The protocol versions offered, within the policy ("1.2", "1.3"); all by default.
    pub protocols: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub certificates: Vec<Spanned<CertCfg>>,
    /// Hosts that ask clients for certificates (mTLS), on every TLS listener.
    #[serde(default)]
    pub client_certs: Vec<Spanned<ClientCertsCfg>>,
    /// Where automatic certificates, the ACME account and the internal CA are kept
    /// (default: `[global] data_dir`).
    pub storage: Option<Spanned<String>>,
    /// "acme" (default: public names from `[acme]`, local names from the internal CA) or
    /// "internal" (every automatic certificate from the internal CA).
    pub issuer: Option<Spanned<String>>,
    /// false: every handshake is a full one (no session tickets, no session-ID cache),
    /// as nginx's `ssl_session_tickets off` with `ssl_session_cache off`.
    #[serde(default = "yes")]
    pub session_resumption: bool,
    /// true: clients resume by tickets that carry their session sealed with a key that
    /// rotates, rather than from the server's store (nginx's `ssl_session_tickets on`).
    pub session_tickets: Option<Spanned<bool>>,
    /// How long a ticket key seals new tickets ("6h"); it opens them one period more.
    pub ticket_key_rotation: Option<Spanned<String>>,
}

/// `[[tls.client_certs]]`: client certificates (mTLS) for some hosts.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClientCertsCfg {
    pub hosts: Vec<Spanned<String>>,
    /// PEM bundle of the CAs that sign the clients' certificates.
    pub ca: Spanned<String>,
    /// false: ask, and pass the identity on when a client has one.
    #[serde(default = "yes")]
    pub required: bool,
    /// The request header that carries a verified client's subject upstream.
    pub header: Option<Spanned<String>>,
}

fn yes() -> bool {
    true
}

/// `[[tls.certificates]]`: a PEM chain and its key.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CertCfg {
    pub cert: String,
    pub key: String,
    /// Also for handshakes whose name no certificate has.
    #[serde(default)]
    pub default: bool,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    /// Admin listener address, or "off".
    pub admin: Option<Spanned<String>>,
    /// A path (relative: from the config file's folder), "stdout" or "off".
    pub access_log: Option<Spanned<String>>,
    /// "json" (default) or "combined".
    pub access_log_format: Option<Spanned<String>>,
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Response headers removed from upstream responses; default Server, X-Powered-By.
    pub hide_headers: Option<Vec<Spanned<String>>>,
    pub shutdown_timeout: Option<Spanned<String>>,
    /// Relative: from the config file's folder.
    pub pid_file: Option<String>,
    /// Where what must outlive a restart is kept (feeds' last good copies; automatic
    /// certificates unless `[tls] storage` says otherwise). Relative: from the config
    /// file's folder.
    pub data_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default, deserialize_with = "limits::names_or_table")]
    pub limits: Limits,
    #[serde(default)]
    pub dns: DnsCfg,
    /// The WAF policy (`[waf.NAME]`) of every route that names none.
    pub waf: Option<Spanned<String>>,
}

/// `[global.dns]`: how names in `servers` are looked up, and how often again.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct DnsCfg {
    /// Name servers (`IP` or `IP:PORT`); default: those of /etc/resolv.conf.
    #[serde(default)]
    pub servers: Vec<Spanned<String>>,
    pub min_ttl: Option<Spanned<String>>,
    pub max_ttl: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    pub client_header: Option<Spanned<String>>,
    pub client_body: Option<Spanned<String>>,
    pub client_send: Option<Spanned<String>>,
    pub keepalive: Option<Spanned<String>>,
    pub upstream_connect: Option<Spanned<String>>,
    pub upstream_header: Option<Spanned<String>>,
    pub upstream_idle: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub max_header_bytes: Option<Spanned<Size>>,
    pub max_headers: Option<Spanned<usize>>,
    pub max_uri_bytes: Option<Spanned<Size>>,
    pub max_body: Option<Spanned<Size>>,
    /// How much of a request body arrives before an upstream is asked, for routes that set
    /// none (default "64k"; 0 streams every body as it comes).
    pub request_buffer: Option<Spanned<Size>>,
    /// The slowest average a request body may come at once `min_body_rate_grace` has
    /// passed: "256/s" (default), "1k/s", or "off".
    pub min_body_rate: Option<Spanned<String>>,
    /// How long a request body may come slower (default "10s").
    pub min_body_rate_grace: Option<Spanned<String>>,
    /// What a request target with bytes past ASCII gets: "refuse" (default) or "escape".
    pub non_ascii_targets: Option<Spanned<String>>,
    /// Rate limits (`[limits.NAME]`) applied to every request before routing.
    #[serde(default)]
    pub apply: Vec<Spanned<String>>,
}

/// A byte count: an integer, or a string with a unit ("64k", "10m", "1g").
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    pub addr: Spanned<String>,
    /// Terminate TLS on this listener, with the certificates of `[tls]`.
    #[serde(default)]
    pub tls: Option<Spanned<bool>>,
    /// Ask clients for certificates signed by a CA in this PEM file (mTLS).
    pub client_ca: Option<Spanned<String>>,
    /// "required" (default) or "optional".
    pub client_auth: Option<Spanned<String>>,
    /// The request header that carries a verified client's subject upstream.
    pub client_cert_header: Option<Spanned<String>>,
    /// Lists (`[lists.NAME]`) whose addresses alone may connect.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Lists whose addresses are closed at accept.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    /// Connections start with a PROXY protocol header (v1 or v2), accepted only from
    /// `trusted_proxies`.
    pub proxy_protocol: Option<Spanned<bool>>,
    /// Open connections on this listener, from all clients.
    pub max_connections: Option<Spanned<i64>>,
    /// Open connections from one client address (an IPv6 /64).
    pub max_connections_per_ip: Option<Spanned<i64>>,
    /// New connections from one client address: "20/s", "600/min".
    pub new_connections_per_ip: Option<Spanned<String>>,
    /// `[lists.NAME]` names whose clients the two per-address limits do not hold (an
    /// office or a partner behind one NAT address).
    #[serde(default)]
    pub per_ip_exempt: Vec<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RouteCfg {
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub methods: Vec<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    pub upstream: Option<Spanned<String>>,
    /// Weighted upstreams: `[{ upstream = "v1", weight = 90 }, { upstream = "v2", weight = 10 }]`.
    pub split: Option<Spanned<Vec<SplitCfg>>>,
    /// How a client keeps its side of a split: "ip" (default), "cookie" or "none".
    pub split_sticky: Option<Spanned<String>>,
    /// Retries may send again requests whose method is not idempotent (POST, PATCH).
    pub retry_non_idempotent: Option<Spanned<bool>>,
    /// Request bodies up to this size are kept so that a retry can send them again.
    pub retry_buffer: Option<Spanned<Size>>,
    /// The first this many bytes of a request body arrive before an upstream is asked
    /// (default `global.limits.request_buffer`, "64k"; 0 streams it as it comes).
    pub request_buffer: Option<Spanned<Size>>,
    /// Plain HTTP requests get a 308 to the same URL over HTTPS.
    pub https_redirect: Option<Spanned<bool>>,
    /// `Strict-Transport-Security` for answers over TLS.
    pub hsts: Option<Spanned<String>>,
    /// `{ upstream = "shadow", percent = 10 }`: a copy of requests goes there too.
    pub mirror: Option<Spanned<MirrorCfg>>,
    pub respond: Option<Spanned<RespondCfg>>,
    pub redirect: Option<Spanned<RedirectCfg>>,
    pub strip_prefix: Option<Spanned<String>>,
    pub request_headers: Option<Spanned<HeaderRulesCfg>>,
    pub response_headers: Option<Spanned<HeaderRulesCfg>>,
    pub max_body: Option<Spanned<Size>>,
    /// Filters that do nothing, in every phase: for measuring the chain's own cost.
    pub noop_filters: Option<Spanned<i64>>,
    /// `cache = true`, or `cache = { default_ttl = "1m", ... }`: an RFC 9111 shared cache.
    pub cache: Option<Spanned<RouteCacheCfg>>,
    /// `compress = true`, or `compress = { levels = { gzip = 5 }, ... }`.
    pub compress: Option<Spanned<RouteCompressCfg>>,
    /// Rate limits (`[limits.NAME]`) this route applies.
    #[serde(default)]
    pub limits: Vec<Spanned<String>>,
    /// Lists (`[lists.NAME]`) whose addresses alone this route serves (403 to others).
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// Lists whose addresses get 403 here.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
    /// Every visitor of this route must show a challenge pass (`[challenge]`).
    pub challenge: Option<Spanned<bool>>,
    /// Only clients GeoIP places in one of these countries (ISO codes; `[geoip]`).
    #[serde(default)]
    pub countries: Vec<Spanned<String>>,
    /// The WAF policy (`[waf.NAME]`) this route runs, or "off" (where `[global] waf` names one).
    pub waf: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct MirrorCfg {
    pub upstream: Spanned<String>,
    /// Share of requests copied; 100 by default.
    pub percent: Option<Spanned<f64>>,
}

/// One side of a route's `split`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct SplitCfg {
    pub upstream: Spanned<String>,
    pub weight: Option<Spanned<i64>>,
    /// `"X-Canary: always"`: requests with this header value come here, whatever the weights.
    pub when_header: Option<Spanned<String>>,
    /// `"canary=always"`: the same for a cookie.
    pub when_cookie: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RespondCfg {
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub body: String,
}

fn ok() -> u16 {
    200
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RedirectCfg {
    pub to: String,
    #[serde(default = "found")]
    pub status: u16,
}

fn found() -> u16 {
    302
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct HeaderRulesCfg {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}
