//! What a purge names: a URL, a prefix, a regular expression, a tag, or everything. A URL
//! or prefix is written as the keys hold it (`https://example.com/a?b=1`), or as a path
//! (`/a?b=1`) that names it on every host, as Varnish's `ban req.url == /a?b=1` does.
use crate::disk::Pick;

/// What a purge removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purge {
    /// One URL, every variant and every key made from it.
    Url(String),
    /// Every URL that starts with this.
    Prefix(String),
    /// Every response that carried this tag.
    Tag(String),
    /// Every URL this regular expression finds a match in (Varnish's `ban req.url ~`).
    Pattern(UrlPattern),
    All,
}

/// A purge's regular expression (equal to another when written alike).
#[derive(Clone, Debug)]
pub struct UrlPattern(regex::Regex);

impl UrlPattern {
    pub fn new(pattern: &str) -> Result<UrlPattern, String> {
        // Bounded: a purge request must not build a huge automaton.
        let built = regex::RegexBuilder::new(pattern).size_limit(1 << 20).build();
        built.map(UrlPattern).map_err(|e| format!("bad regular expression: {e}"))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for UrlPattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for UrlPattern {}

impl Purge {
    /// Whether it removes what was stored for `url`, tagged as `tagged` says.
    pub fn matches(&self, url: &str, tagged: impl Fn(&str) -> bool) -> bool {
        match self {
            Purge::All => true,
            Purge::Url(u) => as_written(url, u) == u,
            Purge::Prefix(prefix) => as_written(url, prefix).starts_with(prefix.as_str()),
            Purge::Pattern(pattern) => pattern.0.is_match(url),
            Purge::Tag(tag) => tagged(tag),
        }
    }

    /// The URL it names alone, where it names one with its host (a path names one on
    /// every host).
    pub fn one_url(&self) -> Option<&str> {
        match self {
            Purge::Url(url) if !url.starts_with('/') => Some(url),
            _ => None,
        }
    }

    /// What it picks in the disk tier's index, which reads no file: a URL's keys or a
    /// tag's where it names one, else by `matches`.
    pub(crate) fn on_disk(self) -> Pick {
        if let Some(url) = self.one_url() {
            return Pick::Url(url.into());
        }
        match self {
            Purge::Tag(tag) => Pick::Tag(tag.into()),
            purge => Pick::If(Box::new(move |e| purge.matches(&e.url, |t| e.tags.iter().any(|have| **have == *t)))),
        }
    }
}

/// The part of a stored `url` (`scheme://host/path?query`) to compare with what a purge
/// wrote: its path and query when that is a path, else all of it.
fn as_written<'u>(url: &'u str, written: &str) -> &'u str {
    match written.starts_with('/') {
        true => crate::key::split_url(url).1,
        false => url,
    }
}

#[cfg(test)]
mod tests {
    use super::Purge;

    fn purges(purge: &Purge, url: &str) -> bool {
        purge.matches(url, |_| false)
    }

    #[test]
    fn a_url_or_prefix_written_as_a_path_names_it_on_every_host() {
        let url = Purge::Url("/a?b=1".into());
        assert!(purges(&url, "https://example.com/a?b=1"));
        assert!(purges(&url, "http://other.example/a?b=1"));
        assert!(!purges(&url, "https://example.com/a?b=2"));
        assert!(!purges(&url, "https://example.com/x/a?b=1"));
        let prefix = Purge::Prefix("/img/".into());
        assert!(purges(&prefix, "https://example.com/img/1.png"));
        assert!(!purges(&prefix, "https://example.com/css/img/1.png"));
        assert!(!purges(&prefix, "https://img.example/"), "the host is not the path");
    }

    #[test]
    fn a_url_or_prefix_with_its_host_names_it_on_that_host() {
        let url = Purge::Url("https://example.com/a".into());
        assert!(purges(&url, "https://example.com/a"));
        assert!(!purges(&url, "http://example.com/a"));
        assert!(!purges(&url, "https://other.example/a"));
        let prefix = Purge::Prefix("https://example.com/img/".into());
        assert!(purges(&prefix, "https://example.com/img/1.png"));
        assert!(!purges(&prefix, "https://other.example/img/1.png"));
    }
}
