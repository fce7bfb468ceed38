//! A compiled route: which requests it takes (hosts, path, methods, headers), its filter
//! chain, and its action.
use crate::action::Action;
use crate::filter::Chain;
use crate::metrics::RouteStats;
use crate::normal_path::normalized;
use http::header::HeaderName;
use http::{request, Method};
use regex::Regex;
use std::borrow::Cow;
use std::fmt;
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
    /// `"/api/"` is a prefix, `"=/exact"` an exact path, `"~^/regex$"` a regex. Prefixes
    /// and exact paths are normalized as request paths are (`normal_path`), so that
    /// `/a%2Db` written in the config matches `/a-b` as requested; a regex sees the
    /// normalized request path as written.
    pub fn parse(s: &str) -> Result<PathPattern, regex::Error> {
        let normal = |p: &str| normalized(p).map_or_else(|| p.to_string(), Cow::into_owned);
        if let Some(exact) = s.strip_prefix('=') {
            Ok(PathPattern::Exact(normal(exact)))
        } else if let Some(re) = s.strip_prefix('~') {
            Ok(PathPattern::Regex(Regex::new(re)?))
        } else {
            Ok(PathPattern::Prefix(normal(s)))
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(h) => f.write_str(h),
            HostPattern::Wildcard(suffix) => write!(f, "*{suffix}"),
        }
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathPattern::Prefix(p) => f.write_str(p),
            PathPattern::Exact(p) => write!(f, "={p}"),
            PathPattern::Regex(r) => write!(f, "~{}", r.as_str()),
        }
    }
}

/// A condition on one request header.
pub enum HeaderMatch {
    /// The header is present, whatever its value (`"*"` in the config).
    Present(HeaderName),
    Exact(HeaderName, String),
    /// `"~regex"` in the config.
    Regex(HeaderName, Regex),
}

impl HeaderMatch {
    fn accepts(&self, req: &request::Parts) -> bool {
        match self {
            HeaderMatch::Present(name) => req.headers.contains_key(name),
            HeaderMatch::Exact(name, want) => req.headers.get_all(name).iter().any(|v| v.as_bytes() == want.as_bytes()),
            HeaderMatch::Regex(name, re) => {
                req.headers.get_all(name).iter().any(|v| v.to_str().map(|s| re.is_match(s)).unwrap_or(false))
            }
        }
    }

    /// The header and what it must be, as the config writes it.
    pub fn describe(&self) -> (&HeaderName, String) {
        match self {
            HeaderMatch::Present(name) => (name, "*".into()),
            HeaderMatch::Exact(name, want) => (name, want.clone()),
            HeaderMatch::Regex(name, re) => (name, format!("~{}", re.as_str())),
        }
    }
}

pub struct Route {
    /// `name` from the config, or `route#N` (N counts from 1 in file order).
    pub name: String,
    /// Empty means any host.
    pub hosts: Vec<HostPattern>,
    pub path: PathPattern,
    /// Empty means any method (but `TRACE`, which a route must list to take).
    pub methods: Vec<Method>,
    pub headers: Vec<HeaderMatch>,
    pub chain: Chain,
    pub action: Action,
    pub stats: Arc<RouteStats>,
}

impl Route {
    pub fn new(name: String, path: PathPattern, action: Action) -> Route {
        Route {
            name,
            hosts: Vec::new(),
            path,
            methods: Vec::new(),
            headers: Vec::new(),
            chain: Chain::default(),
            action,
            stats: Arc::default(),
        }
    }

    /// Whether the method and header conditions hold for `req`.
    pub fn accepts(&self, req: &request::Parts) -> bool {
        (self.methods.is_empty() || self.methods.contains(&req.method)) && self.headers.iter().all(|h| h.accepts(req))
    }

    /// Whether the route takes `method`: `TRACE` (which would echo the request, cookies
    /// and all, and which no backend needs) only where the route lists it.
    pub fn allows(&self, method: &Method) -> bool {
        method != Method::TRACE || self.methods.contains(&Method::TRACE)
    }
}
