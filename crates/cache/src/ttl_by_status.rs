//! A lifetime a route gives responses by their status: its `default_ttl`, the freshness
//! of responses that carry none of their own (RFC 9111 §4.2.2 leaves heuristic freshness
//! to the cache, and this cache uses none unless the operator sets it), and its
//! `override_ttl`, in place of theirs.
use std::fmt;

/// A route's `default_ttl` or `override_ttl`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TtlByStatus {
    /// Not set (for `default_ttl`: a response without freshness of its own is not stored
    /// or, `public`, stored stale and validated at each use).
    #[default]
    Off,
    /// `default_ttl = "1m"`: one lifetime for every status cacheable by default (RFC 9110
    /// §15.1) and for any `public` response.
    Cacheable(u64),
    /// `default_ttl = { 200 = "10m", 404 = "1m", 503 = "5s", any = "1s" }`: a lifetime
    /// per status, whether or not the status is cacheable by default, and `any` for the
    /// statuses not listed — nginx's `proxy_cache_valid`, Varnish's `beresp.ttl` set by
    /// status. Only the statuses listed (or all, with `any`) get one.
    ByStatus { statuses: Vec<(u16, u64)>, any: Option<u64> },
}

impl TtlByStatus {
    /// The lifetime a response with `status` gets when it carries no freshness of its
    /// own; `public` is whether it said it may be stored.
    pub fn for_response(&self, status: u16, public: bool) -> Option<u64> {
        match self {
            TtlByStatus::Off => None,
            TtlByStatus::Cacheable(ttl) => (heuristically_cacheable(status) || public).then_some(*ttl),
            TtlByStatus::ByStatus { statuses, any } => {
                statuses.iter().find(|(s, _)| *s == status).map(|(_, ttl)| *ttl).or(*any)
            }
        }
    }
}

/// As `forecourt explain` shows it: `60s`, or `200=600s 404=60s any=1s`.
impl fmt::Display for TtlByStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TtlByStatus::Off => f.write_str("off"),
            TtlByStatus::Cacheable(ttl) => write!(f, "{ttl}s"),
            TtlByStatus::ByStatus { statuses, any } => {
                let mut parts: Vec<String> = statuses.iter().map(|(s, ttl)| format!("{s}={ttl}s")).collect();
                parts.extend(any.map(|ttl| format!("any={ttl}s")));
                match parts.is_empty() {
                    true => f.write_str("off"),
                    false => f.write_str(&parts.join(" ")),
                }
            }
        }
    }
}

/// Statuses "cacheable by default" (RFC 9110 §15.1).
pub fn heuristically_cacheable(status: u16) -> bool {
    matches!(status, 200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lifetime_covers_the_statuses_cacheable_by_default_and_public_responses() {
        let ttl = TtlByStatus::Cacheable(60);
        assert_eq!(ttl.for_response(200, false), Some(60));
        assert_eq!(ttl.for_response(404, false), Some(60));
        assert_eq!(ttl.for_response(302, false), None, "302 is not cacheable by default");
        assert_eq!(ttl.for_response(302, true), Some(60), "unless it says public");
        assert_eq!(TtlByStatus::Off.for_response(200, true), None);
        assert_eq!(ttl.to_string(), "60s");
    }

    #[test]
    fn a_lifetime_per_status_covers_only_those_listed_and_any_the_rest() {
        let listed = TtlByStatus::ByStatus { statuses: vec![(200, 600), (503, 5)], any: None };
        assert_eq!(listed.for_response(200, false), Some(600));
        assert_eq!(listed.for_response(503, false), Some(5), "an error status, when the operator says so");
        assert_eq!(listed.for_response(404, false), None, "cacheable by default, but not listed");
        assert_eq!(listed.for_response(404, true), None);
        let with_any = TtlByStatus::ByStatus { statuses: vec![(404, 60)], any: Some(1) };
        assert_eq!(with_any.for_response(404, false), Some(60));
        assert_eq!(with_any.for_response(302, false), Some(1));
        assert_eq!(with_any.to_string(), "404=60s any=1s");
    }
}
