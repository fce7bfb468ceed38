//! Whether a response may be compressed: a compressible type, at least the minimum size
//! (when its length is known), a status with a whole body, not already coded, and no
//! `Cache-Control: no-transform`.
use http::header::{HeaderMap, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;

/// The types compressed by default: text, and the structured text types.
pub const DEFAULT_TYPES: &[&str] = &[
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
    "application/wasm",
    "application/manifest+json",
    "application/ld+json",
    "application/graphql-response+json",
];

/// What the route compresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eligibility {
    /// Media types (`text/*`, `application/*+json`, exact names).
    pub types: Vec<String>,
    pub min_size: u64,
}

impl Default for Eligibility {
    fn default() -> Self {
        Eligibility { types: DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(), min_size: 1024 }
    }
}

impl Eligibility {
    /// Whether this response's body may be compressed (the client's wishes aside).
    pub fn allows(&self, status: StatusCode, headers: &HeaderMap) -> bool {
        if !status.is_success() || status == StatusCode::PARTIAL_CONTENT || status == StatusCode::NO_CONTENT {
            return false;
        }
        if headers.contains_key(CONTENT_ENCODING) {
            return false;
        }
        let no_transform = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-transform")));
        if no_transform {
            return false;
        }
        let length =
            headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        if length.is_some_and(|n| n < self.min_size) {
            return false;
        }
        let Some(media) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
        let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        self.types.iter().any(|t| type_matches(t, &media))
    }
}

/// `text/*` matches any text type, `application/*+json` any JSON-structured one.
fn type_matches(pattern: &str, media: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern.eq_ignore_ascii_case(media),
        Some((prefix, suffix)) => {
            media.len() >= prefix.len() + suffix.len()
                && media[..prefix.len()].eq_ignore_ascii_case(prefix)
                && media[media.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
    }

    #[test]
    fn types_sizes_statuses_and_codings() {
        let e = Eligibility::default();
        let ok = StatusCode::OK;
        assert!(e.allows(ok, &h(&[("content-type", "text/html; charset=utf-8"), ("content-length", "5000")])));
        assert!(e.allows(ok, &h(&[("content-type", "application/vnd.api+json")])), "unknown length streams");
        assert!(e.allows(ok, &h(&[("content-type", "image/svg+xml")])));
        assert!(!e.allows(ok, &h(&[("content-type", "image/png")])));
        assert!(!e.allows(ok, &h(&[("content-type", "text/plain"), ("content-length", "100")])), "too small");
        assert!(!e.allows(ok, &h(&[("content-type", "text/plain"), ("content-encoding", "gzip")])));
        assert!(!e.allows(ok, &h(&[("content-type", "text/plain"), ("cache-control", "public, No-Transform")])));
        assert!(!e.allows(StatusCode::PARTIAL_CONTENT, &h(&[("content-type", "text/plain")])));
        assert!(!e.allows(StatusCode::NOT_MODIFIED, &h(&[("content-type", "text/plain")])));
        assert!(!e.allows(StatusCode::NO_CONTENT, &h(&[("content-type", "text/plain")])));
        assert!(!e.allows(ok, &h(&[])), "no type, no compression");
    }
}
