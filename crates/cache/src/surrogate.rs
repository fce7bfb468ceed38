//! The surrogate fields of the Edge Architecture (W3C Note, 2001), as Fastly and Squid
//! read them: `Surrogate-Control` is a `Cache-Control` for surrogates (reverse proxies and
//! CDNs), each directive optionally targeted at one of them by its device token
//! (`max-age=600;forecourt`); a surrogate says it reads the field with
//! `Surrogate-Capability: forecourt="Surrogate/1.0"` on the requests it forwards.
use crate::directives::{split_list, Directives};
use forecourt_upstream::token::is_token;
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub static SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
pub static SURROGATE_CAPABILITY: HeaderName = HeaderName::from_static("surrogate-capability");

/// The directives that decide caching: `max-age` (its `+N` freshness extension is served
/// stale when the origin fails), `no-store`, and the stale extensions Fastly reads there
/// too. `content` (ESI processing) and `no-store-remote` (for surrogates far from the
/// origin) ask nothing of this cache.
const CACHING: [&str; 4] = ["max-age", "no-store", "stale-while-revalidate", "stale-if-error"];

/// What `Surrogate-Control` tells the surrogate `id`, when it tells it anything: the
/// directives targeted at `id`, and the untargeted ones whose name none of those repeats.
/// Directives targeted at other surrogates are theirs.
pub fn directives(headers: &HeaderMap, id: &str) -> Option<Directives> {
    let mut untargeted: Vec<(String, &str)> = Vec::new();
    let mut targeted: Vec<(String, &str)> = Vec::new();
    for value in headers.get_all(&SURROGATE_CONTROL) {
        let Ok(text) = value.to_str() else { continue };
        for part in split_list(text) {
            let (directive, target) = match part.rsplit_once(';') {
                Some((directive, target)) if is_token(target.trim()) => (directive.trim(), Some(target.trim())),
                _ => (part, None),
            };
            let name = directive.split('=').next().unwrap_or_default().trim().to_ascii_lowercase();
            if !CACHING.contains(&name.as_str()) {
                continue;
            }
            match target {
                None => untargeted.push((name, directive)),
                Some(device) if device.eq_ignore_ascii_case(id) => targeted.push((name, directive)),
                Some(_) => {}
            }
        }
    }
    untargeted.retain(|(name, _)| !targeted.iter().any(|(n, _)| n == name));
    if untargeted.is_empty() && targeted.is_empty() {
        return None;
    }
    let mut text = String::new();
    for (name, directive) in untargeted.iter().chain(&targeted) {
        let directive = match (name.as_str(), directive.split_once('+')) {
            ("max-age", Some((max_age, extension))) => format!("{max_age}, stale-if-error={}", extension.trim()),
            _ => directive.to_string(),
        };
        text.push_str(&directive);
        text.push_str(", ");
    }
    Some(Directives::parse_text(&text))
}

/// Adds surrogate `id`'s capability to a request going upstream, after those of the
/// surrogates in front of this one.
pub fn announce(headers: &mut HeaderMap, id: &str) {
    let mut value: Vec<&str> = headers.get_all(&SURROGATE_CAPABILITY).iter().filter_map(|v| v.to_str().ok()).collect();
    let ours = format!("{id}=\"Surrogate/1.0\"");
    value.push(&ours);
    if let Ok(value) = HeaderValue::from_str(&value.join(", ")) {
        headers.insert(SURROGATE_CAPABILITY.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(values: &[&str]) -> Option<Directives> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SURROGATE_CONTROL.clone(), v.parse().unwrap());
        }
        directives(&h, "forecourt")
    }

    #[test]
    fn the_directives_for_this_surrogate_are_read() {
        assert_eq!(read(&["max-age=3600"]).unwrap().max_age, Some(3600));
        assert_eq!(read(&["foobar, MaX-aGe=3600"]).unwrap().max_age, Some(3600));
        assert_eq!(read(&["max-age=99999999999"]).unwrap().max_age, Some(i32::MAX as u64));
        assert!(read(&["no-store"]).unwrap().no_store);
        let d = read(&["max-age=30+600, stale-while-revalidate=10"]).unwrap();
        assert_eq!((d.max_age, d.stale_if_error, d.stale_while_revalidate), (Some(30), Some(600), Some(10)));
        // Targeted: ours wins over the untargeted one; another surrogate's is not ours.
        let d = read(&["max-age=60, no-store;edge", "max-age=600;Forecourt"]).unwrap();
        assert_eq!((d.max_age, d.no_store), (Some(600), false));
        assert_eq!(read(&["max-age=3600;not-for-you"]), None);
        // Nothing about caching for this cache: Cache-Control decides.
        assert_eq!(read(&["content=\"ESI/1.0\""]), None);
        assert_eq!(read(&["foo", "no-store-remote"]), None);
        assert_eq!(read(&[]), None);
    }

    #[test]
    fn the_capability_is_added_after_those_in_front() {
        let mut h = HeaderMap::new();
        announce(&mut h, "forecourt");
        assert_eq!(h[&SURROGATE_CAPABILITY], "forecourt=\"Surrogate/1.0\"");
        let mut h = HeaderMap::new();
        h.insert(SURROGATE_CAPABILITY.clone(), "cdn=\"Surrogate/1.0 ESI/1.0\"".parse().unwrap());
        announce(&mut h, "forecourt");
        assert_eq!(h[&SURROGATE_CAPABILITY], "cdn=\"Surrogate/1.0 ESI/1.0\", forecourt=\"Surrogate/1.0\"");
    }
}
