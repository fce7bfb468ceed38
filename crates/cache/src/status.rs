//! The `Cache-Status` field (RFC 9211): what this cache did with a request.
use http::HeaderValue;

/// Why the request went forward, or that it was a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Hit,
    /// Nothing stored under the key.
    UriMiss,
    /// Something stored, but no variant for this request.
    VaryMiss,
    /// A stored response, stale (or one that must be validated): validated with the origin.
    Stale,
    /// The method is not one this cache serves.
    Method,
    /// The request asked not to be served from the cache (`no-cache`, `max-age=0`, ...).
    Request,
    /// The route's `bypass` said so.
    Bypass,
}

/// The pieces of one `Cache-Status` entry.
#[derive(Clone, Debug, Default)]
pub struct CacheStatus {
    pub outcome: Option<Outcome>,
    /// The origin's status when the request went forward.
    pub fwd_status: Option<u16>,
    pub stored: bool,
    pub collapsed: bool,
    pub ttl: Option<i64>,
    pub detail: Option<&'static str>,
}

/// The cache's name in `Cache-Status`.
pub const NAME: &str = "Forecourt";

impl CacheStatus {
    pub fn value(&self) -> HeaderValue {
        let mut s = String::from(NAME);
        match self.outcome {
            Some(Outcome::Hit) => s.push_str("; hit"),
            Some(o) => {
                s.push_str("; fwd=");
                s.push_str(match o {
                    Outcome::UriMiss => "uri-miss",
                    Outcome::VaryMiss => "vary-miss",
                    Outcome::Stale => "stale",
                    Outcome::Method => "method",
                    Outcome::Request => "request",
                    Outcome::Bypass => "bypass",
                    Outcome::Hit => unreachable!(),
                });
            }
            None => s.push_str("; fwd=miss"),
        }
        if let Some(status) = self.fwd_status {
            s.push_str(&format!("; fwd-status={status}"));
        }
        if self.stored {
            s.push_str("; stored");
        }
        if self.collapsed {
            s.push_str("; collapsed");
        }
        if let Some(ttl) = self.ttl {
            s.push_str(&format!("; ttl={ttl}"));
        }
        if let Some(detail) = self.detail {
            s.push_str("; detail=");
            s.push_str(detail);
        }
        HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(NAME))
    }

    /// The one-word form for the access log.
    pub fn log_word(&self) -> &'static str {
        match (self.outcome, self.collapsed) {
            (_, true) => "collapsed",
            (Some(Outcome::Hit), _) => match self.detail {
                Some("stale-while-revalidate") | Some("stale-if-error") => "stale",
                _ => "hit",
            },
            (Some(Outcome::Stale), _) if self.fwd_status == Some(304) => "revalidated",
            (Some(Outcome::Bypass | Outcome::Method), _) => "bypass",
            _ => "miss",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_rfc_9211_says() {
        let hit = CacheStatus { outcome: Some(Outcome::Hit), ttl: Some(30), ..CacheStatus::default() };
        assert_eq!(hit.value(), "Forecourt; hit; ttl=30");
        let miss = CacheStatus {
            outcome: Some(Outcome::UriMiss),
            fwd_status: Some(200),
            stored: true,
            ttl: Some(60),
            ..CacheStatus::default()
        };
        assert_eq!(miss.value(), "Forecourt; fwd=uri-miss; fwd-status=200; stored; ttl=60");
        let collapsed = CacheStatus { outcome: Some(Outcome::UriMiss), collapsed: true, ..CacheStatus::default() };
        assert_eq!(collapsed.log_word(), "collapsed");
    }
}
