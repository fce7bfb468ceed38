//! Route selection by specificity.
//!
//! Hosts: an exact name beats the longest matching `*.suffix` wildcard, which beats routes
//! with no `hosts`. Within a host: an `=exact` path beats `~regex` paths (tried in file
//! order), which beat prefixes (longest first). A candidate whose `methods` or `headers`
//! conditions fail is skipped; if nothing under a host matches, the less specific host
//! buckets are tried next (a host's routes never hide the catch-all routes).
use crate::route::Route;
use http::request;
use regex::Regex;
use std::collections::HashMap;
use std::sync::Arc;

/// How a route names the hosts it serves.
#[derive(Debug, Clone)]
pub enum HostPattern {
    Exact(String),
    /// `*.example.com`, stored as `.example.com`: matches any depth of subdomain.
    Wildcard(String),
}

impl HostPattern {
    pub fn parse(s: &str) -> HostPattern {
        let s = s.trim_end_matches('.').to_ascii_lowercase();
        match s.strip_prefix('*') {
            Some(suffix) => HostPattern::Wildcard(suffix.to_string()),
            None => HostPattern::Exact(s),
        }
    }
}

/// How a route matches the path.
#[derive(Debug, Clone)]
pub enum PathPattern {
    Prefix(String),
    Exact(String),
    Regex(Regex),
}

impl PathPattern {
    /// `"/api/"` is a prefix, `"=/exact"` an exact path, `"~^/regex$"` a regex.
    pub fn parse(s: &str) -> Result<PathPattern, regex::Error> {
        if let Some(exact) = s.strip_prefix('=') {
            Ok(PathPattern::Exact(exact.to_string()))
        } else if let Some(re) = s.strip_prefix('~') {
            Ok(PathPattern::Regex(Regex::new(re)?))
        } else {
            Ok(PathPattern::Prefix(s.to_string()))
        }
    }
}

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
    /// Adds a route for the given hosts (empty = any host) and path.
    pub fn add(&mut self, hosts: &[HostPattern], path: &PathPattern, route: Arc<Route>) {
        let idx = self.routes.len();
        self.routes.push(route);
        if hosts.is_empty() {
            self.any.insert(path, idx);
        }
        for host in hosts {
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

    /// The route that serves `req` addressed to `host` (already without port, any case).
    pub fn find<'a>(&'a self, host: &str, req: &request::Parts) -> Option<Match<'a>> {
        let lowered;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) || host.ends_with('.') {
            lowered = host.trim_end_matches('.').to_ascii_lowercase();
            lowered.as_str()
        } else {
            host
        };
        let path = req.uri.path();
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
    use crate::route::{Action, Route};

    fn route(name: &str) -> Arc<Route> {
        Arc::new(Route::new(name.into(), Action::Respond { status: http::StatusCode::OK, body: bytes::Bytes::new() }))
    }

    fn table() -> Router {
        let mut r = Router::default();
        let p = |s: &str| PathPattern::parse(s).unwrap();
        let h = |s: &str| HostPattern::parse(s);
        r.add(&[], &p("/"), route("any-root"));
        r.add(&[h("example.com")], &p("/api/"), route("api"));
        r.add(&[h("example.com")], &p("/api/v2/"), route("api-v2"));
        r.add(&[h("example.com")], &p("=/api/exact"), route("exact"));
        r.add(&[h("example.com")], &p("~^/api/.*\\.php$"), route("php"));
        r.add(&[h("*.example.com")], &p("/"), route("wild"));
        r.add(&[h("*.b.example.com")], &p("/"), route("wild-longer"));
        r
    }

    fn find(r: &Router, host: &str, path: &str) -> String {
        let req = http::Request::get(path).body(()).unwrap().into_parts().0;
        r.find(host, &req).map(|m| m.route.name.clone()).unwrap_or_default()
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
    fn host_without_port() {
        let req = http::Request::get("/").header("host", "example.com:8080").body(()).unwrap().into_parts().0;
        assert_eq!(request_host(&req.uri, &req.headers), "example.com");
        let req = http::Request::get("/").header("host", "[::1]:8080").body(()).unwrap().into_parts().0;
        assert_eq!(request_host(&req.uri, &req.headers), "[::1]");
    }
}
