//! `[upstream.NAME]` as written: servers, balancing, checks and retries.
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCfg {
    pub servers: Spanned<Vec<ServerCfg>>,
    pub balance: Option<Spanned<String>>,
    /// Where `balance = "hash"` takes its key: "ip", "uri", "header:NAME", "cookie:NAME",
    /// "query:NAME".
    pub key: Option<Spanned<String>>,
    /// "http1" (default) or "h2c".
    pub protocol: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub response_timeout: Option<Spanned<String>>,
    pub keepalive_idle: Option<Spanned<String>>,
    pub keepalive_max: Option<usize>,
    /// The affinity cookie of `balance = "cookie"`, and how long it lasts.
    pub cookie: Option<Spanned<String>>,
    pub cookie_ttl: Option<Spanned<String>>,
    /// A server back in rotation ramps up to its full weight over this long.
    pub slow_start: Option<Spanned<String>>,
    /// Requests with the upstream at once (all workers); more wait in a queue of `queue`
    /// for at most `queue_timeout`, then get 503.
    pub max_requests: Option<Spanned<u32>>,
    pub queue: Option<u32>,
    pub queue_timeout: Option<Spanned<String>>,
    /// TLS to `https://` servers: CA file (default: the system's), the name to verify
    /// and send as SNI, a client certificate and key, and (explicitly) no verification.
    pub tls_ca: Option<Spanned<String>>,
    pub tls_server_name: Option<Spanned<String>>,
    pub tls_client_cert: Option<Spanned<String>>,
    pub tls_client_key: Option<Spanned<String>>,
    pub tls_insecure_skip_verify: Option<Spanned<bool>>,
    pub health: Option<Spanned<HealthCfg>>,
    pub eject: Option<Spanned<EjectCfg>>,
    pub retry: Option<Spanned<RetryCfg>>,
}

/// `[upstream.NAME.health]`: active checks.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct HealthCfg {
    /// "http" (default) or "tcp".
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub host: Option<String>,
    /// "200-399" (default), "200", or a number.
    pub status: Option<Spanned<StatusRange>>,
    /// A string the response body must contain.
    pub body: Option<String>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub rise: Option<Spanned<u32>>,
    pub fall: Option<Spanned<u32>>,
}

/// `200` or `"200-299"`.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum StatusRange {
    One(u16),
    Text(String),
}

/// `[upstream.NAME.eject]`: passive checks (outlier detection).
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct EjectCfg {
    /// Consecutive failures that eject a server; 0 turns ejection off.
    pub failures: Option<Spanned<u32>>,
    pub window: Option<Spanned<String>>,
    pub statuses: Option<Spanned<Vec<u16>>>,
    pub base_time: Option<Spanned<String>>,
    pub max_time: Option<Spanned<String>>,
    pub max_percent: Option<Spanned<u32>>,
}

/// `[upstream.NAME.retry]`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RetryCfg {
    /// Tries in all, the first included; 1 turns retries off.
    pub attempts: Option<Spanned<u32>>,
    /// Response statuses retried on another server.
    pub statuses: Option<Spanned<Vec<u16>>>,
    pub on_timeout: Option<bool>,
    pub per_try_timeout: Option<Spanned<String>>,
    pub deadline: Option<Spanned<String>>,
    pub budget_percent: Option<Spanned<u32>>,
    pub budget_min_per_sec: Option<u32>,
}

/// `"10.0.0.1:8080"` or `{ addr = "10.0.0.1:8080", weight = 3, backup = true, max_conns = 100 }`.
#[derive(Debug, Default)]
pub struct ServerCfg {
    pub addr: String,
    pub weight: u32,
    pub backup: bool,
    pub max_conns: Option<u32>,
}

/// By hand rather than `#[serde(untagged)]`, whose only error is "data did not match any
/// variant": a mistake in a server entry is told in words.
impl<'de> Deserialize<'de> for ServerCfg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ServerVisitor)
    }
}

struct ServerVisitor;

impl<'de> serde::de::Visitor<'de> for ServerVisitor {
    type Value = ServerCfg;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a server: \"HOST:PORT\" or { addr = \"HOST:PORT\", weight = N }")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ServerCfg, E> {
        Ok(ServerCfg { addr: v.to_string(), weight: 1, ..ServerCfg::default() })
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<ServerCfg, M::Error> {
        use serde::de::Error;
        let (mut addr, mut server) = (None, ServerCfg { weight: 1, ..ServerCfg::default() });
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "addr" => addr = Some(map.next_value::<String>()?),
                "weight" => {
                    let w = map.next_value::<i64>()?;
                    server.weight = u32::try_from(w)
                        .ok()
                        .filter(|&w| w >= 1)
                        .ok_or_else(|| M::Error::custom(format!("weight {w}: weights are whole numbers from 1")))?;
                }
                "backup" => server.backup = map.next_value()?,
                "max_conns" => {
                    let n = map.next_value::<i64>()?;
                    let n = u32::try_from(n)
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| M::Error::custom(format!("max_conns {n}: a whole number from 1")))?;
                    server.max_conns = Some(n);
                }
                other => return Err(M::Error::unknown_field(other, &["addr", "weight", "backup", "max_conns"])),
            }
        }
        server.addr = addr.ok_or_else(|| M::Error::missing_field("addr"))?;
        Ok(server)
    }
}
