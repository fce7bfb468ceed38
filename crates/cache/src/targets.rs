//! Which field a response's directives for this cache come from: a field targeted at it
//! takes precedence over `Cache-Control` when present — RFC 9213's (a name of the
//! operator's own, then `CDN-Cache-Control`), then the Edge Architecture's
//! `Surrogate-Control` for the cache's device token.
use crate::directives::Directives;
use crate::structured::is_dictionary;
use crate::surrogate;
use http::header::{HeaderMap, HeaderName, CACHE_CONTROL};

/// The fields that target this cache, besides `CDN-Cache-Control`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    /// A targeted field of this cache's own (RFC 9213), not passed to clients.
    pub own: Option<HeaderName>,
    /// This cache's device token in `Surrogate-Control` and `Surrogate-Capability`
    /// (`None`: `Surrogate-Control` is not read, and passes to clients).
    pub surrogate_id: Option<Box<str>>,
}

impl Targets {
    /// The directives this cache obeys for a response, and whether they come from a
    /// targeted field: the first valid one present (`own`, then `CDN-Cache-Control`, then
    /// `Surrogate-Control` with directives for this cache), else `Cache-Control`. A
    /// targeted field replaces `Cache-Control` for this cache whole; an RFC 9213 field
    /// that is not a valid Structured Field is ignored whole (RFC 9213 §2.1). The
    /// standard's fields come before the 2001 Note's.
    pub fn directives(&self, headers: &HeaderMap) -> (Directives, bool) {
        static CDN: HeaderName = HeaderName::from_static("cdn-cache-control");
        for targeted in self.own.iter().chain(std::iter::once(&CDN)) {
            let lines: Option<Vec<&str>> = headers.get_all(targeted).iter().map(|v| v.to_str().ok()).collect();
            match lines {
                Some(lines) if !lines.is_empty() && is_dictionary(&lines.join(",")) => {
                    return (Directives::parse_as(headers, targeted, true), true);
                }
                _ => {}
            }
        }
        if let Some(d) = self.surrogate_id.as_deref().and_then(|id| surrogate::directives(headers, id)) {
            return (d, true);
        }
        (Directives::parse(headers, &CACHE_CONTROL), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targeted_field_wins_for_this_cache() {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, "no-store".parse().unwrap());
        h.insert("cdn-cache-control", "max-age=100".parse().unwrap());
        let (d, targeted) = Targets::default().directives(&h);
        assert!(targeted && !d.no_store && d.max_age == Some(100));
        let own = HeaderName::from_static("forecourt-cache-control");
        let targets = Targets { own: Some(own.clone()), surrogate_id: Some("forecourt".into()) };
        h.insert(own.clone(), "max-age=7".parse().unwrap());
        assert_eq!(targets.directives(&h).0.max_age, Some(7));
        for garbled in ["max-age=7, &&&", "max-age=\"7\""] {
            h.insert(own.clone(), garbled.parse().unwrap());
            h.insert("cdn-cache-control", "max-age=100, &&&".parse().unwrap());
            let (d, targeted) = targets.directives(&h);
            assert_eq!(
                (targeted, d.max_age),
                (garbled.contains('"'), None),
                "{garbled}: ignored, Cache-Control obeyed"
            );
        }
        // The RFC 9213 fields first, then Surrogate-Control for this cache.
        h.remove(&own);
        h.remove("cdn-cache-control");
        h.insert("surrogate-control", "max-age=30;forecourt".parse().unwrap());
        assert_eq!(targets.directives(&h), (Directives { max_age: Some(30), ..Directives::default() }, true));
        h.insert("cdn-cache-control", "max-age=100".parse().unwrap());
        assert_eq!(targets.directives(&h).0.max_age, Some(100));
        h.remove("cdn-cache-control");
        let not_read = Targets { surrogate_id: None, ..targets };
        assert_eq!(not_read.directives(&h), (Directives { no_store: true, ..Directives::default() }, false));
    }
}
