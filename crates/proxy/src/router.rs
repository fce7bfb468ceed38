//! Route selection by specificity.
//!
//! Hosts: an exact name beats the longest matching `*.suffix` wildcard, which beats routes
//! with no `hosts`. Within a host: an `=exact` path beats `~regex` paths (tried in file
//! order), which beat prefixes (longest first). A candidate whose `methods` or `headers`
//! conditions fail is skipped; if nothing under a host matches, the less specific host
//! buckets are tried next (a host's routes never hide the catch-all routes).
use crate::route::{HostPattern, PathPattern, Route};
use http::request;
use regex::Regex;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
struct PathTable {
    exact: HashMap<String, Vec<usize>>,
    regex: Vec<(Regex, usize)>,
    /// Longest first; equal lengths keep file order.
    prefix: Vec<(String, usize)>,
}

impl PathTable {
    fn insert(&mut self, path: &PathPattern, idx: usize) {
        match path {
            PathPattern::Exact(p) => self.exact.entry(p.clone()).or_default().push(idx),
            PathPattern::Regex(r) => self.regex.push((r.clone(), idx)),
            PathPattern::Prefix(p) => {
                let at = self.prefix.partition_point(|(q, _)| q.len() >= p.len());
                self.prefix.insert(at, (p.clone(), idx));
            }
        }
    }

    fn find(&self, path: &str, accepts: impl Fn(usize) -> bool) -> Option<(usize, &'static str)> {
        if let Some(list) = self.exact.get(path) {
            if let Some(&i) = list.iter().find(|&&i| accepts(i)) {
                return Some((i, "exact path"));
            }
        }
        if let Some(&(_, i)) = self.regex.iter().find(|(r, i)| r.is_match(path) && accepts(*i)) {
            return Some((i, "regex path"));
        }
        self.prefix.iter().find(|(p, i)| path.starts_with(p.as_str()) && accepts(*i)).map(|&(_, i)| (i, "path prefix"))
    }
}

/// Where a request was sent and why; what `forecourt explain` prints.
pub struct Match<'a> {
    pub route: &'a Arc<Route>,
    pub host_kind: &'static str,
    pub path_kind: &'static str,
}

/// The compiled routing table of one config snapshot.
#[derive(Default)]
pub struct Router {
    routes: Vec<Arc<Route>>,
    exact: HashMap<String, PathTable>,
    /// Longest suffix first.
    wildcard: Vec<(String, PathTable)>,
    any: PathTable,
}

impl Router {
    /// Adds a route, for its hosts (none: any host) and its path.
    pub fn add(&mut self, route: Arc<Route>) {
        let idx = self.routes.len();
        self.routes.push(route.clone());
        let path = &route.path;
        if route.hosts.is_empty() {
            self.any.insert(path, idx);
        }
        for host in &route.hosts {
            match host {
                HostPattern::Exact(h) => self.exact.entry(h.clone()).or_default().insert(path, idx),
                HostPattern::Wildcard(suffix) => {
                    let pos = match self.wildcard.iter().position(|(s, _)| s == suffix) {
                        Some(pos) => pos,
                        None => {
                            let at = self.wildcard.partition_point(|(s, _)| s.len() >= suffix.len());
                            self.wildcard.insert(at, (suffix.clone(), PathTable::default()));
                            at
                        }
                    };
                    self.wildcard[pos].1.insert(path, idx);
                }
            }
        }
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    /// The route that serves `req` addressed to `host` (already without port, any case),
    /// by `path`: the request's path as `normal_path` normalizes it.
    pub fn find<'a>(&'a self, host: &str, path: &str, req: &request::Parts) -> Option<Match<'a>> {
        let lowered;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) || host.ends_with('.') {
            lowered = host.trim_end_matches('.').to_ascii_lowercase();
            lowered.as_str()
        } else {
            host
        };
        let accepts = |i: usize| self.routes[i].accepts(req);
        let found =
            |(i, path_kind): (usize, &'static str), host_kind| Match { route: &self.routes[i], host_kind, path_kind };
        if !self.exact.is_empty() {
            if let Some(m) = self.exact.get(host).and_then(|t| t.find(path, accepts)) {
                return Some(found(m, "exact host"));
            }
        }
        for (suffix, table) in &self.wildcard {
            if host.len() > suffix.len() && host.ends_with(suffix.as_str()) {
                if let Some(m) = table.find(path, accepts) {
                    return Some(found(m, "wildcard host"));
                }
            }
        }
        self.any.find(path, accepts).map(|m| found(m, "any host"))
    }
}

/// The host a request is addressed to, without port: the URI authority (absolute-form and
/// HTTP/2) or the Host header.
pub fn request_host<'a>(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> &'a str {
    let raw = match uri.host() {
        Some(h) => return h,
        None => headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or(""),
    };
    strip_port(raw)
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        // [v6]:port
        return host.split_once(']').map(|(h, _)| &host[..h.len() + 1]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;

    fn route(name: &str, hosts: &[&str], path: &str) -> Arc<Route> {
        let action = Action::Respond { status: http::StatusCode::OK, body: bytes::Bytes::new() };
        let mut route = Route::new(name.into(), PathPattern::parse(path).unwrap(), action);
        route.hosts = hosts.iter().map(|h| HostPattern::parse(h)).collect();
        Arc::new(route)
    }

    fn table() -> Router {
        let mut r = Router::default();
        r.add(route("any-root", &[], "/"));
        r.add(route("api", &["example.com"], "/api/"));
        r.add(route("api-v2", &["example.com"], "/api/v2/"));
        r.add(route("exact", &["example.com"], "=/api/exact"));
        r.add(route("php", &["example.com"], "~^/api/.*\\.php$"));
        r.add(route("wild", &["*.example.com"], "/"));
        r.add(route("wild-longer", &["*.b.example.com"], "/"));
        r
    }

    fn find(r: &Router, host: &str, path: &str) -> String {
        let req = http::Request::get(path).body(()).unwrap().into_parts().0;
        let normal = crate::normal_path::normalized(req.uri.path()).unwrap();
        r.find(host, &normal, &req).map(|m| m.route.name.clone()).unwrap_or_default()
    }

    #[test]
    fn specificity() {
        let r = table();
        assert_eq!(find(&r, "example.com", "/api/exact"), "exact");
        assert_eq!(find(&r, "example.com", "/api/x.php"), "php");
        assert_eq!(find(&r, "example.com", "/api/v2/x"), "api-v2");
        assert_eq!(find(&r, "example.com", "/api/x"), "api");
        assert_eq!(find(&r, "EXAMPLE.com.", "/api/x"), "api");
        // a host's routes do not hide the catch-all
        assert_eq!(find(&r, "example.com", "/other"), "any-root");
        assert_eq!(find(&r, "a.example.com", "/"), "wild");
        assert_eq!(find(&r, "x.b.example.com", "/"), "wild-longer");
        assert_eq!(find(&r, "other.org", "/"), "any-root");
    }

    #[test]
    fn routes_see_the_path_as_backends_read_it() {
        let r = table();
        for path in ["/other/../api/x", "//api/x", "/%61pi/x", "/api/v2/../x", "/other%2F..%2Fapi/x"] {
            assert_eq!(find(&r, "example.com", path), "api", "{path}");
        }
        assert_eq!(find(&r, "example.com", "/api/./exact"), "exact");
        assert_eq!(find(&r, "example.com", "/api/v2/%2e%2e/v2/x"), "api-v2");
        // A route written with an escape takes the request that spells it out.
        let mut escaped = Router::default();
        escaped.add(route("dash", &[], "/a%2Db/"));
        assert_eq!(find(&escaped, "x", "/a-b/c"), "dash");
    }

    #[test]
    fn host_without_port() {
        let req = http::Request::get("/").header("host", "example.com:8080").body(()).unwrap().into_parts().0;
        assert_eq!(request_host(&req.uri, &req.headers), "example.com");
        let req = http::Request::get("/").header("host", "[::1]:8080").body(()).unwrap().into_parts().0;
        assert_eq!(request_host(&req.uri, &req.headers), "[::1]");
    }
}
