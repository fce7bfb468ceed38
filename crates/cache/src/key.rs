//! The cache key of a request: scheme, host, path and query by default, with the route's
//! options to drop or sort query parameters and to add request headers or cookies.
use http::header::{HeaderName, COOKIE};
use http::request;

/// How a route builds its keys (`key = { ... }`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySpec {
    /// Leave the query out.
    pub drop_query: bool,
    /// Sort the query's parameters, so that `?a=1&b=2` and `?b=2&a=1` share an entry.
    pub sort_query: bool,
    /// Query parameters left out (`utm_*`: a trailing `*` matches any suffix).
    pub ignore_params: Vec<String>,
    /// Request headers whose values are part of the key.
    pub headers: Vec<HeaderName>,
    /// Cookies whose values are part of the key.
    pub cookies: Vec<String>,
}

/// A URL as `url` makes it, split into its origin (`https://host`) and its path and
/// query (`/path?query`; empty when it has none).
pub fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url.split_at(url[after_scheme..].find('/').map_or(url.len(), |i| after_scheme + i))
}

/// The URL a key starts with (`https://host/path?query`), as purges and invalidations
/// name it.
pub fn url(scheme: &str, host: &str, path_and_query: &str) -> String {
    let host = host.to_ascii_lowercase();
    format!("{scheme}://{host}{path_and_query}")
}

impl KeySpec {
    /// Whether the key is the URL as is (no work per request beyond the format).
    fn plain(&self) -> bool {
        !self.drop_query
            && !self.sort_query
            && self.ignore_params.is_empty()
            && self.headers.is_empty()
            && self.cookies.is_empty()
    }

    /// The primary key of `head` for `scheme` and `host`, and the URL part of it.
    pub fn key(&self, scheme: &str, host: &str, head: &request::Parts) -> (String, usize) {
        let path = head.uri.path();
        let query = head.uri.query();
        let mut key = if self.plain() {
            url(scheme, host, head.uri.path_and_query().map_or("/", |p| p.as_str()))
        } else {
            let mut k = url(scheme, host, path);
            if let Some(q) = query.filter(|_| !self.drop_query) {
                let mut params: Vec<&str> = q.split('&').filter(|p| !p.is_empty() && !self.ignored(p)).collect();
                if self.sort_query {
                    params.sort_unstable();
                }
                if !params.is_empty() {
                    k.push('?');
                    k.push_str(&params.join("&"));
                }
            }
            k
        };
        let url_len = key.len();
        for name in &self.headers {
            key.push_str("\nh:");
            key.push_str(name.as_str());
            key.push('=');
            for v in head.headers.get_all(name) {
                key.push_str(&String::from_utf8_lossy(v.as_bytes()));
                key.push(',');
            }
        }
        for name in &self.cookies {
            key.push_str("\nc:");
            key.push_str(name);
            key.push('=');
            if let Some(v) = cookie(&head.headers, name) {
                key.push_str(v);
            }
        }
        (key, url_len)
    }

    fn ignored(&self, param: &str) -> bool {
        let name = param.split('=').next().unwrap_or(param);
        self.ignore_params.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == p,
        })
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(uri: &str, headers: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_url_splits_into_its_origin_and_its_path() {
        assert_eq!(super::split_url("https://h.example/a?b=1"), ("https://h.example", "/a?b=1"));
        assert_eq!(super::split_url("https://h.example"), ("https://h.example", ""));
    }

    #[test]
    fn keys_follow_the_options() {
        let plain = KeySpec::default();
        assert_eq!(plain.key("http", "Example.com", &head("/a?b=1", &[])).0, "http://example.com/a?b=1");
        let sorted = KeySpec { sort_query: true, ignore_params: vec!["utm_*".into()], ..KeySpec::default() };
        let (k, _) = sorted.key("https", "h", &head("/a?z=1&utm_source=x&a=2", &[]));
        assert_eq!(k, "https://h/a?a=2&z=1");
        let dropped = KeySpec { drop_query: true, ..KeySpec::default() };
        assert_eq!(dropped.key("http", "h", &head("/a?z=1", &[])).0, "http://h/a");
        let extra = KeySpec {
            headers: vec![HeaderName::from_static("x-tenant")],
            cookies: vec!["lang".into()],
            ..KeySpec::default()
        };
        let (k, url_len) = extra.key("http", "h", &head("/a", &[("x-tenant", "t1"), ("cookie", "a=1; lang=fr")]));
        assert_eq!(k, "http://h/a\nh:x-tenant=t1,\nc:lang=fr");
        assert_eq!(&k[..url_len], "http://h/a");
    }
}
