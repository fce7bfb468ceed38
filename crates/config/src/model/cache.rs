//! `[cache]` and a route's `cache`.
use super::switch::{bool_or_table, text_or_table};
use super::*;

/// `[cache]`: the process-wide store every route with `cache` on shares.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CacheCfg {
    /// Bytes the in-memory tier may hold ("256m" by default).
    pub memory: Option<Spanned<Size>>,
    /// The disk tier: `{ path = "/var/cache/forecourt", size = "20g" }`.
    pub disk: Option<Spanned<CacheDiskCfg>>,
    /// The largest response stored ("64m").
    pub max_object: Option<Spanned<Size>>,
    /// A targeted cache-control field of this cache's own (RFC 9213), obeyed before
    /// `CDN-Cache-Control` and `Cache-Control`; "Forecourt-Cache-Control" by default.
    pub targeted_field: Option<Spanned<String>>,
    /// This cache's device token in `Surrogate-Control` (the Edge Architecture's field for
    /// surrogates, obeyed after the RFC 9213 fields) and in the `Surrogate-Capability` it
    /// sends upstream; "forecourt" by default, "off": neither.
    pub surrogate_id: Option<Spanned<String>>,
    /// Response fields that carry purge tags; `["Cache-Tag", "Surrogate-Key"]` by default.
    pub tag_headers: Option<Vec<Spanned<String>>>,
    /// Client addresses (CIDRs) whose `PURGE` requests remove the URL from the cache;
    /// `PURGE` from elsewhere gets 403. Unset: `PURGE` is a method like any other.
    pub purge_from: Option<Vec<Spanned<String>>>,
    /// How long a request waits for another's fetch of the same key ("5s").
    pub lock_timeout: Option<Spanned<String>>,
}

/// `[cache] disk`: a folder of the cache's own (relative to the config file's) and the
/// bytes its files may take.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CacheDiskCfg {
    pub path: Spanned<String>,
    pub size: Spanned<Size>,
}

/// A route's `cache`: `true`, or a table of options.
#[derive(Debug)]
pub enum RouteCacheCfg {
    On(bool),
    Options(Box<RouteCacheOptions>),
}

impl<'de> Deserialize<'de> for RouteCacheCfg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match bool_or_table::<D, RouteCacheOptions>(d, "true, false, or a table of cache options")? {
            Ok(on) => Ok(RouteCacheCfg::On(on)),
            Err(options) => Ok(RouteCacheCfg::Options(Box::new(options))),
        }
    }
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheOptions {
    pub key: Option<Spanned<CacheKeyCfg>>,
    pub default_ttl: Option<Spanned<TtlByStatusCfg>>,
    /// The lifetime of responses with the statuses it covers, in place of their own
    /// freshness (the same forms as `default_ttl`).
    pub override_ttl: Option<Spanned<TtlByStatusCfg>>,
    /// The longest a stored response stays fresh from its receipt, whatever it says.
    pub max_ttl: Option<Spanned<String>>,
    pub stale_while_revalidate: Option<Spanned<String>>,
    pub stale_if_error: Option<Spanned<String>>,
    /// How long past freshness to serve when the origin cannot be reached; "off".
    pub stale_if_unreachable: Option<Spanned<String>>,
    #[serde(default)]
    pub ignore_client_no_cache: bool,
    /// Store responses that set a cookie when their freshness is explicit (RFC 9111);
    /// `false`: only when they say they may be shared.
    pub store_set_cookie: Option<bool>,
    pub bypass: Option<Spanned<CacheBypassCfg>>,
}

/// A route's `default_ttl` or `override_ttl`: one duration for every status cacheable by
/// default, or a table of durations by status (`{ 200 = "10m", 404 = "1m", any = "5s" }`).
#[derive(Debug)]
pub enum TtlByStatusCfg {
    Cacheable(String),
    ByStatus(BTreeMap<Spanned<String>, Spanned<String>>),
}

impl<'de> Deserialize<'de> for TtlByStatusCfg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let expecting = "a duration (\"1m\"), or a table of durations by status ({ 200 = \"10m\", 404 = \"1m\" })";
        match text_or_table::<D, BTreeMap<Spanned<String>, Spanned<String>>>(d, expecting)? {
            Ok(every) => Ok(TtlByStatusCfg::Cacheable(every)),
            Err(by_status) => Ok(TtlByStatusCfg::ByStatus(by_status)),
        }
    }
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CacheKeyCfg {
    /// "keep" (default), "sort" or "drop".
    pub query: Option<Spanned<String>>,
    /// Query parameters left out of the key (`utm_*` matches a prefix).
    #[serde(default)]
    pub ignore_params: Vec<Spanned<String>>,
    #[serde(default)]
    pub headers: Vec<Spanned<String>>,
    #[serde(default)]
    pub cookies: Vec<Spanned<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CacheBypassCfg {
    #[serde(default)]
    pub headers: Vec<Spanned<String>>,
    #[serde(default)]
    pub cookies: Vec<Spanned<String>>,
}
