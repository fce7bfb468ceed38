//! The configuration file as written: plain serde types, with spans kept on the values that
//! later checks may need to point at. Field names are the product's surface (DESIGN.md).
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

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
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// 0 = one per core.
    #[serde(default)]
    pub workers: usize,
    /// Admin listener address, or "off".
    pub admin: Option<Spanned<String>>,
    /// A path, "stdout" or "off".
    pub access_log: Option<String>,
    /// "json" (default) or "combined".
    pub access_log_format: Option<Spanned<String>>,
    #[serde(default)]
    pub trusted_proxies: Vec<Spanned<String>>,
    /// Response headers removed from upstream responses; default Server, X-Powered-By.
    pub hide_headers: Option<Vec<Spanned<String>>>,
    pub shutdown_timeout: Option<Spanned<String>>,
    pub pid_file: Option<String>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub limits: Limits,
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
    pub respond: Option<Spanned<RespondCfg>>,
    pub redirect: Option<Spanned<RedirectCfg>>,
    pub strip_prefix: Option<Spanned<String>>,
    pub request_headers: Option<Spanned<HeaderRulesCfg>>,
    pub response_headers: Option<Spanned<HeaderRulesCfg>>,
    pub max_body: Option<Spanned<Size>>,
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
}

/// `"10.0.0.1:8080"` or `{ addr = "10.0.0.1:8080", weight = 3 }`.
#[derive(Debug)]
pub enum ServerCfg {
    Addr(String),
    Full { addr: String, weight: u32 },
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
        Ok(ServerCfg::Addr(v.to_string()))
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<ServerCfg, M::Error> {
        use serde::de::Error;
        let (mut addr, mut weight) = (None, 1u32);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "addr" => addr = Some(map.next_value::<String>()?),
                "weight" => {
                    let w = map.next_value::<i64>()?;
                    weight = u32::try_from(w)
                        .ok()
                        .filter(|&w| w >= 1)
                        .ok_or_else(|| M::Error::custom(format!("weight {w}: weights are whole numbers from 1")))?;
                }
                other => return Err(M::Error::unknown_field(other, &["addr", "weight"])),
            }
        }
        let addr = addr.ok_or_else(|| M::Error::missing_field("addr"))?;
        Ok(ServerCfg::Full { addr, weight })
    }
}
