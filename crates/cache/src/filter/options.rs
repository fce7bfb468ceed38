//! A route's cache options (`cache = { ... }`).
use crate::key::KeySpec;
use forecourt_proxy::cidr::CidrList;
use http::header::HeaderName;
use std::time::Duration;

/// When a request skips the cache (neither served from it nor stored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bypass {
    /// Any of these request headers present.
    pub headers: Vec<HeaderName>,
    /// Any of these cookies present.
    pub cookies: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteOptions {
    pub key: KeySpec,
    /// Freshness for responses that carry none (off unless set).
    pub default_ttl: Option<u64>,
    /// Serve this long past freshness while refreshing in the background (a response's
    /// own `stale-while-revalidate` applies when this is not set).
    pub stale_while_revalidate: Option<u64>,
    /// Serve this long past freshness when the origin fails (likewise).
    pub stale_if_error: Option<u64>,
    /// Serve from the cache even when the client says `no-cache` (what CDNs do).
    pub ignore_client_no_cache: bool,
    /// Store a response that sets a cookie when its freshness is explicit (RFC 9111), or
    /// (`false`) only when it says it may be shared.
    pub store_set_cookie: bool,
    pub bypass: Bypass,
    /// A targeted field of this cache's own (RFC 9213), obeyed before `CDN-Cache-Control`
    /// and `Cache-Control`, and not passed to the client.
    pub targeted: Option<HeaderName>,
    /// Response fields that carry purge tags, removed before the client sees them.
    pub tag_headers: Vec<HeaderName>,
    /// How long a request waits for another's fetch of the same key before going
    /// upstream itself.
    pub lock_timeout: Duration,
    /// Clients whose `PURGE` removes the request's URL (empty: `PURGE` is not special).
    pub purge_from: CidrList,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            key: KeySpec::default(),
            default_ttl: None,
            stale_while_revalidate: None,
            stale_if_error: None,
            ignore_client_no_cache: false,
            store_set_cookie: true,
            bypass: Bypass::default(),
            targeted: None,
            tag_headers: vec![HeaderName::from_static("cache-tag"), HeaderName::from_static("surrogate-key")],
            lock_timeout: Duration::from_secs(5),
            purge_from: CidrList::default(),
        }
    }
}
