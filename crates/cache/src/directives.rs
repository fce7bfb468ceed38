//! Cache directives (RFC 9111 §5.2), in `Cache-Control`'s syntax (which field a
//! response's come from for this cache is `targets.rs`'s choice).
use http::header::{HeaderMap, HeaderName};

/// The directives of one response (or request), parsed once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directives {
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
    pub no_store: bool,
    /// `no-cache` without field names: stored, validated at every use.
    pub no_cache: bool,
    /// `private` without field names: a shared cache does not store it.
    pub private: bool,
    /// The fields a qualified `no-cache="x, y"` or `private="x"` names (lowercase): the
    /// response is stored and reused without them (RFC 9111 §5.2.2.4, §5.2.2.7).
    pub unstored_fields: Vec<Box<str>>,
    /// `must-understand`: stored only with a status this cache understands, and then
    /// despite `no-store` (RFC 9111 §5.2.2.3).
    pub must_understand: bool,
    pub public: bool,
    pub must_revalidate: bool,
    pub proxy_revalidate: bool,
    pub immutable: bool,
    pub no_transform: bool,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
    // Request directives.
    pub max_stale: Option<Option<u64>>,
    pub min_fresh: Option<u64>,
    pub only_if_cached: bool,
}

/// Delta-seconds (RFC 9111 §1.2.2): digits; too large a number is the largest.
fn seconds(value: &str) -> Option<u64> {
    let v = value.trim_matches('"');
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u64>().unwrap_or(u64::MAX).min(i32::MAX as u64))
}

impl Directives {
    /// Without what the response said of its own freshness (`max-age`, `s-maxage`,
    /// `no-cache`): a route's `override_ttl` stands in for it. (`Expires`, a field of its
    /// own, is not read where the override applies.)
    pub fn without_freshness(self) -> Directives {
        Directives { max_age: None, s_maxage: None, no_cache: false, ..self }
    }

    /// Parses every value of `name` in `headers`. An invalid `max-age` value makes the
    /// response stale (RFC 9111 §4.2.1: treated as 0), as does a duplicated one that
    /// disagrees.
    pub fn parse(headers: &HeaderMap, name: &HeaderName) -> Directives {
        Directives::parse_as(headers, name, false)
    }

    /// `structured`: a targeted field, a Structured Field Dictionary (RFC 9213 §2.1), whose
    /// numbers are Integers: a quoted one is of the wrong type and its directive ignored.
    pub fn parse_as(headers: &HeaderMap, name: &HeaderName, structured: bool) -> Directives {
        let mut d = Directives::default();
        for value in headers.get_all(name) {
            let Ok(text) = value.to_str() else { continue };
            d.add(text, structured);
        }
        d
    }

    /// The directives of one comma-separated list, in `Cache-Control`'s syntax.
    pub fn parse_text(text: &str) -> Directives {
        let mut d = Directives::default();
        d.add(text, false);
        d
    }

    /// Adds the directives of `text`, a comma-separated list.
    fn add(&mut self, text: &str, structured: bool) {
        for part in split_list(text) {
            // No whitespace around `=` (RFC 9111 §5.2's grammar): `max-age =60` is a
            // directive of another name, `max-age= 60` an invalid value, as most caches read
            // them, rather than freshness the origin did not quite write.
            let (key, arg) = match part.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (part, None),
            };
            let key = key.to_ascii_lowercase();
            let numeric = matches!(key.as_str(), "max-age" | "s-maxage" | "stale-while-revalidate" | "stale-if-error");
            if structured && numeric && arg.is_some_and(|a| a.starts_with('"')) {
                continue;
            }
            let number = || arg.map(|a| seconds(a).unwrap_or(0));
            match key.as_str() {
                "max-age" => self.max_age = merge(self.max_age, number().or(Some(0))),
                "s-maxage" => self.s_maxage = merge(self.s_maxage, number().or(Some(0))),
                "no-store" => self.no_store = true,
                "no-cache" | "private" if arg.is_some_and(|a| a.starts_with('"')) => {
                    let names = arg.unwrap_or_default().trim_matches('"').split(',');
                    self.unstored_fields
                        .extend(names.map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).map(Box::from));
                }
                "no-cache" => self.no_cache = true,
                "private" => self.private = true,
                "must-understand" => self.must_understand = true,
                "public" => self.public = true,
                "must-revalidate" => self.must_revalidate = true,
                "proxy-revalidate" => self.proxy_revalidate = true,
                "immutable" => self.immutable = true,
                "no-transform" => self.no_transform = true,
                "stale-while-revalidate" => self.stale_while_revalidate = arg.and_then(seconds),
                "stale-if-error" => self.stale_if_error = arg.and_then(seconds),
                "max-stale" => self.max_stale = Some(arg.and_then(seconds)),
                "min-fresh" => self.min_fresh = arg.and_then(seconds),
                "only-if-cached" => self.only_if_cached = true,
                _ => {}
            }
        }
    }
}

/// Two values of one directive: the smaller (conflicting duplicates are treated with
/// the most caution).
fn merge(old: Option<u64>, new: Option<u64>) -> Option<u64> {
    match (old, new) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Splits a comma-separated list, keeping commas inside quoted strings.
pub fn split_list(text: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CACHE_CONTROL;

    fn cc(value: &str) -> Directives {
        let mut h = HeaderMap::new();
        h.insert(CACHE_CONTROL, value.parse().unwrap());
        Directives::parse(&h, &CACHE_CONTROL)
    }

    #[test]
    fn directives_parse_with_quotes_case_and_bad_values() {
        let d = cc("Public, MAX-AGE=60, s-maxage=\"30\", no-cache=\"Set-Cookie, x\", stale-if-error=5");
        assert!(d.public && !d.no_cache && !d.private);
        assert_eq!(d.unstored_fields, vec![Box::from("set-cookie"), Box::from("x")]);
        assert_eq!((d.max_age, d.s_maxage, d.stale_if_error), (Some(60), Some(30), Some(5)));
        let d = cc("private=\"a\", no-cache, must-understand");
        assert!(d.no_cache && !d.private && d.must_understand && d.unstored_fields == vec![Box::from("a")]);
        assert_eq!(cc("max-age=abc").max_age, Some(0), "an invalid max-age is stale");
        assert_eq!(cc("max-age=10, max-age=20").max_age, Some(10));
        assert_eq!(cc("max-age=99999999999999999999").max_age, Some(i32::MAX as u64));
        assert_eq!(cc("max-stale").max_stale, Some(None));
        assert_eq!(cc("max-stale=5").max_stale, Some(Some(5)));
    }

    #[test]
    fn whitespace_around_the_equals_sign_is_not_read_as_the_directive() {
        assert_eq!(cc("max-age =3600").max_age, None, "a directive named `max-age `, not max-age");
        assert_eq!(cc("max-age= 3600").max_age, Some(0), "an invalid value: stale");
        assert_eq!(cc(" max-age=3600 , public ").max_age, Some(3600), "around commas it is allowed");
    }
}
