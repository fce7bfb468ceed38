//! How old a stored response is and how long it stays fresh (RFC 9111 §4.2), in whole
//! seconds of the Unix clock.
use crate::directives::Directives;
use crate::ttl_by_status::TtlByStatus;
use http::header::{HeaderMap, AGE, DATE, EXPIRES};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

/// An HTTP date (RFC 9110 §5.6.7) as Unix seconds.
pub fn http_date(headers: &HeaderMap, name: http::header::HeaderName) -> Option<u64> {
    crate::dates::parse(headers.get(name)?.to_str().ok()?)
}

/// Unix seconds as an HTTP date.
pub fn format_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The times a response was asked for and received, and what its headers said of its age.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timing {
    pub request_time: u64,
    pub response_time: u64,
    /// The age it had when received (RFC 9111 §4.2.3's corrected_initial_age).
    pub initial_age: u64,
}

impl Timing {
    pub fn of(headers: &HeaderMap, request_time: u64, response_time: u64) -> Timing {
        let date = http_date(headers, DATE).unwrap_or(response_time);
        // The first value of the first line: `Age: 7200, 0` is 7200 (a list is not valid,
        // but its first member is what the sender meant); anything not digits is ignored.
        let first = headers.get(AGE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next());
        let age_value = first.and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
        let apparent_age = response_time.saturating_sub(date);
        let response_delay = response_time.saturating_sub(request_time);
        let initial_age = apparent_age.max(age_value.saturating_add(response_delay));
        Timing { request_time, response_time, initial_age }
    }

    /// Its current age at `now`.
    pub fn age(&self, now: u64) -> u64 {
        self.initial_age.saturating_add(now.saturating_sub(self.response_time))
    }
}

/// How long a response stays fresh in a shared cache: `s-maxage`, else `max-age`, else
/// `Expires` minus `Date` (an invalid `Expires` means already stale), else what the
/// route's `default_ttl` gives its status.
pub fn lifetime(status: u16, headers: &HeaderMap, d: &Directives, default_ttl: &TtlByStatus) -> u64 {
    if let Some(s) = d.s_maxage {
        return s;
    }
    if let Some(m) = d.max_age {
        return m;
    }
    if headers.contains_key(EXPIRES) {
        let Some(expires) = http_date(headers, EXPIRES) else { return 0 };
        let date = http_date(headers, DATE).unwrap_or_else(now);
        return expires.saturating_sub(date);
    }
    default_ttl.for_response(status, d.public).unwrap_or(0)
}

/// Whether a response carries freshness of its own (a lifetime not made up by us).
pub fn explicit(headers: &HeaderMap, d: &Directives) -> bool {
    d.s_maxage.is_some() || d.max_age.is_some() || headers.contains_key(EXPIRES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
    }

    #[test]
    fn age_takes_the_larger_of_apparent_and_corrected() {
        let t = 1_000_000;
        let h = headers(&[("date", &format_date(t - 10)), ("age", "3")]);
        let timing = Timing::of(&h, t - 1, t);
        assert_eq!(timing.initial_age, 10, "apparent age 10 > 3 + 1");
        assert_eq!(timing.age(t + 5), 15);
        let h = headers(&[("date", &format_date(t)), ("age", "30")]);
        assert_eq!(Timing::of(&h, t - 2, t).initial_age, 32);
    }

    #[test]
    fn lifetime_prefers_s_maxage_then_max_age_then_expires() {
        let t = now();
        let d = |s: &str| Directives::parse(&headers(&[("cache-control", s)]), &http::header::CACHE_CONTROL);
        let h = headers(&[("date", &format_date(t)), ("expires", &format_date(t + 100))]);
        let (off, one) = (TtlByStatus::Off, TtlByStatus::Cacheable(60));
        assert_eq!(lifetime(200, &h, &d("s-maxage=5, max-age=50"), &off), 5);
        assert_eq!(lifetime(200, &h, &d("max-age=50"), &off), 50);
        assert_eq!(lifetime(200, &h, &d(""), &off), 100);
        let bad = headers(&[("expires", "0")]);
        assert_eq!(lifetime(200, &bad, &d(""), &one), 0, "an invalid Expires is stale");
        assert_eq!(lifetime(200, &HeaderMap::new(), &d(""), &off), 0, "no heuristic unless configured");
        assert_eq!(lifetime(200, &HeaderMap::new(), &d(""), &one), 60);
        assert_eq!(lifetime(302, &HeaderMap::new(), &d(""), &one), 0, "302 is not cacheable by default");
        let by_status = TtlByStatus::ByStatus { statuses: vec![(302, 30)], any: None };
        assert_eq!(lifetime(302, &HeaderMap::new(), &d(""), &by_status), 30, "unless listed by status");
        assert_eq!(lifetime(302, &HeaderMap::new(), &d("max-age=5"), &by_status), 5, "its own freshness first");
    }
}
