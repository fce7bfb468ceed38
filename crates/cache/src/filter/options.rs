//! A route's cache options (`cache = { ... }`).
use crate::directives::Directives;
use crate::freshness::{self, Timing};
use crate::key::KeySpec;
use crate::surrogate::SURROGATE_CONTROL;
use crate::targets::Targets;
use crate::ttl_by_status::TtlByStatus;
use forecourt_proxy::cidr::CidrList;
use http::header::{HeaderMap, HeaderName};
use std::time::Duration;

/// When a request skips the cache (neither served from it nor stored).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bypass {
    /// Any of these request headers present.
    pub headers: Vec<HeaderName>,
    /// Any of these cookies present.
    pub cookies: Vec<String>,
}

/// A day: long enough to ride out an origin's outage, short of serving a page so old
/// that an error would say more (Squid's `max_stale` is a week; nginx serves none unless
/// told, Varnish its 10 s grace).
pub const DEFAULT_STALE_IF_UNREACHABLE: u64 = 86_400;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteOptions {
    pub key: KeySpec,
    /// Freshness for responses that carry none (off unless set).
    pub default_ttl: TtlByStatus,
    /// The lifetime of responses with the statuses it covers, in place of their own
    /// freshness (`max-age`, `s-maxage`, `Expires`, `no-cache`): nginx's
    /// `proxy_ignore_headers Cache-Control Expires` with `proxy_cache_valid`, Varnish's
    /// `beresp.ttl` set in VCL, a CDN's "override origin". `no-store`, `private` and
    /// cookies still keep a response out.
    pub override_ttl: TtlByStatus,
    /// The longest a stored response stays fresh from when it was received, whatever it,
    /// `default_ttl` or `override_ttl` says (Varnish's capped `beresp.ttl`, Cloud CDN's
    /// max TTL).
    pub max_ttl: Option<u64>,
    /// Serve this long past freshness while refreshing in the background (a response's
    /// own `stale-while-revalidate` applies when this is not set).
    pub stale_while_revalidate: Option<u64>,
    /// Serve this long past freshness when the origin fails (likewise).
    pub stale_if_error: Option<u64>,
    /// Serve this long past freshness when no answer comes from the origin at all
    /// (refused, reset, timed out), whatever the response said but for `must-revalidate`
    /// and its kin; `None`: only within `stale_if_error`.
    pub stale_if_unreachable: Option<u64>,
    /// Serve from the cache even when the client says `no-cache` (what CDNs do).
    pub ignore_client_no_cache: bool,
    /// Store a response that sets a cookie when its freshness is explicit (RFC 9111), or
    /// (`false`) only when it says it may be shared.
    pub store_set_cookie: bool,
    pub bypass: Bypass,
    /// The fields targeted at this cache besides `CDN-Cache-Control`: its own (RFC 9213),
    /// and `Surrogate-Control` for its device token; neither is passed to the client.
    pub targets: Targets,
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
            default_ttl: TtlByStatus::Off,
            override_ttl: TtlByStatus::Off,
            max_ttl: None,
            stale_while_revalidate: None,
            stale_if_error: None,
            stale_if_unreachable: Some(DEFAULT_STALE_IF_UNREACHABLE),
            ignore_client_no_cache: false,
            store_set_cookie: true,
            bypass: Bypass::default(),
            targets: Targets::default(),
            tag_headers: vec![HeaderName::from_static("cache-tag"), HeaderName::from_static("surrogate-key")],
            lock_timeout: Duration::from_secs(5),
            purge_from: CidrList::default(),
        }
    }
}

impl RouteOptions {
    /// The directives this cache obeys in a response with `status` and `headers` (those
    /// of the field targeted at it, if any), and whether `override_ttl` covers it — then
    /// without the response's own freshness.
    pub fn directives(&self, status: u16, headers: &HeaderMap) -> (Directives, bool, bool) {
        let (d, targeted) = self.targets.directives(headers);
        match self.override_ttl.for_response(status, d.public) {
            Some(_) => (d.without_freshness(), targeted, true),
            None => (d, targeted, false),
        }
    }

    /// How long a response with `status`, `headers` and directives `d`, received at
    /// `timing`, stays fresh here: `override_ttl`'s, else its own freshness or
    /// `default_ttl`'s; fresh for at most `max_ttl` from its receipt (its age then plus
    /// `max_ttl`).
    pub fn lifetime(&self, status: u16, headers: &HeaderMap, d: &Directives, timing: &Timing) -> u64 {
        let lifetime = match self.override_ttl.for_response(status, d.public) {
            Some(ttl) => ttl,
            None => freshness::lifetime(status, headers, d, &self.default_ttl),
        };
        match self.max_ttl {
            Some(max) => lifetime.min(timing.initial_age.saturating_add(max)),
            None => lifetime,
        }
    }

    /// Whether a stored response's `headers` hold a field `hide_private_fields` removes
    /// (purge tags are taken out before it is stored).
    pub fn has_private_fields(&self, headers: &HeaderMap) -> bool {
        self.targets.own.as_ref().is_some_and(|own| headers.contains_key(own))
            || (self.targets.surrogate_id.is_some() && headers.contains_key(&SURROGATE_CONTROL))
    }

    /// Removes the fields meant for this cache alone from an answer to the client: purge
    /// tags, its own targeted field, `Surrogate-Control` when it reads it. They stay in
    /// the stored response, whose refresh by a 304 that does not repeat them keeps them.
    pub fn hide_private_fields(&self, headers: &mut HeaderMap) {
        for name in self.tag_headers.iter().chain(self.targets.own.as_ref()) {
            headers.remove(name);
        }
        if self.targets.surrogate_id.is_some() {
            headers.remove(&SURROGATE_CONTROL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_ttl_caps_every_lifetime_from_the_response_s_receipt() {
        let cc =
            |text: &str| -> HeaderMap { [(http::header::CACHE_CONTROL, text.parse().unwrap())].into_iter().collect() };
        let received = |initial_age| Timing { request_time: 1000, response_time: 1000, initial_age };
        let mut options = RouteOptions { default_ttl: TtlByStatus::Cacheable(600), ..RouteOptions::default() };
        let long = cc("max-age=3600");
        let d = Directives::parse(&long, &http::header::CACHE_CONTROL);
        assert_eq!(options.lifetime(200, &long, &d, &received(0)), 3600);
        options.max_ttl = Some(60);
        assert_eq!(options.lifetime(200, &long, &d, &received(0)), 60);
        assert_eq!(options.lifetime(200, &long, &d, &received(100)), 160, "fresh for 60 s more, as received");
        let none = HeaderMap::new();
        let d = Directives::parse(&none, &http::header::CACHE_CONTROL);
        assert_eq!(options.lifetime(200, &none, &d, &received(0)), 60, "default_ttl's too");
        let short = cc("max-age=10");
        let d = Directives::parse(&short, &http::header::CACHE_CONTROL);
        assert_eq!(options.lifetime(200, &short, &d, &received(0)), 10, "never lengthened");
    }

    #[test]
    fn override_ttl_replaces_the_freshness_of_the_statuses_it_covers() {
        let headers: HeaderMap = [
            (http::header::CACHE_CONTROL, "no-cache, max-age=5".parse().unwrap()),
            (http::header::EXPIRES, "0".parse().unwrap()),
        ]
        .into_iter()
        .collect();
        let received = Timing { request_time: 1000, response_time: 1000, initial_age: 0 };
        let options = RouteOptions {
            override_ttl: TtlByStatus::ByStatus { statuses: vec![(200, 600)], any: None },
            max_ttl: Some(300),
            ..RouteOptions::default()
        };
        let (d, _, overridden) = options.directives(200, &headers);
        assert!(overridden && !d.no_cache && d.max_age.is_none(), "{d:?}");
        assert_eq!(options.lifetime(200, &headers, &d, &received), 300, "overridden, then capped");
        let (d, _, overridden) = options.directives(404, &headers);
        assert!(!overridden && d.no_cache && d.max_age == Some(5), "{d:?}");
        assert_eq!(options.lifetime(404, &headers, &d, &received), 5, "its own, for a status not covered");
    }
}
