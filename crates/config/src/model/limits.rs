//! `[limits.NAME]`: named rate limits, applied by a route's `limits = [...]` or, before
//! routing, by `[global] limits = [...]` (which may also be the table of client size
//! limits, then with the names under `apply`).
use super::Limits;
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct LimitCfg {
    /// What to count by: "ip" (default), "header:NAME", "cookie:NAME", "path", "route",
    /// joined with "+".
    pub key: Option<Spanned<String>>,
    /// "10/s", "600/min", "1000/h".
    pub rate: Spanned<String>,
    /// Requests beyond the steady rate that may come at once (default 0).
    pub burst: Option<Spanned<i64>>,
    /// "reject" (default), "delay" or "challenge".
    pub action: Option<Spanned<String>>,
    /// "local" (default).
    pub store: Option<Spanned<String>>,
    /// Bits of an IPv6 client address that make its key (default 64).
    pub ipv6_prefix: Option<Spanned<i64>>,
    /// Most keys tracked at once (default 1000000).
    pub max_keys: Option<Spanned<i64>>,
    /// `[lists.NAME]` names whose clients the limit does not count.
    #[serde(default)]
    pub exempt: Vec<Spanned<String>>,
    /// Count and log, but hold and refuse nothing (default false).
    #[serde(default)]
    pub dry_run: bool,
}

/// `[global] limits`: a list of limit names, or the table of client size limits (whose
/// `apply` holds the names).
pub(super) fn names_or_table<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Limits;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of limit names, or a table of client limits")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Limits, A::Error> {
            let apply = Vec::<Spanned<String>>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
            Ok(Limits { apply, ..Limits::default() })
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Limits, A::Error> {
            Limits::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(Visitor)
}

/// `[lists.NAME]`: addresses for `allow` / `deny`, inline, from a file and from a URL.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ListCfg {
    /// CIDRs or addresses.
    #[serde(default)]
    pub cidrs: Vec<Spanned<String>>,
    /// A file of one CIDR or address a line (`#` and `;` comments), relative to the
    /// config file's folder.
    pub file: Option<Spanned<String>>,
    /// A feed (`http://` or `https://`), fetched at start and again every `refresh`.
    pub url: Option<Spanned<String>>,
    /// How often the feed is fetched again (default "1h").
    pub refresh: Option<Spanned<String>>,
    /// "auto" (default: JSON when it starts with `{` or `[`), "text" or "json".
    pub format: Option<Spanned<String>>,
    /// Clients GeoIP places in these countries (ISO codes; `[geoip]`).
    #[serde(default)]
    pub countries: Vec<Spanned<String>>,
    /// Clients in these autonomous systems (`[geoip]` with an ASN database).
    #[serde(default)]
    pub asns: Vec<Spanned<i64>>,
}
