//! A compiled route: its conditions, its filter chain and what it does in the end.
use crate::filter::Filter;
use crate::metrics::RouteStats;
use bytes::Bytes;
use forecourt_upstream::UpstreamGroup;
use http::header::HeaderName;
use http::{request, Method, StatusCode};
use regex::Regex;
use std::sync::Arc;

/// What a route does once its filters let the request through.
pub enum Action {
    /// Forward to a group of servers.
    Proxy(Arc<UpstreamGroup>),
    /// Forward to one of several groups, by weight (`split = [...]`).
    Split(crate::split::Split),
    /// Answer directly with a fixed status and body.
    Respond { status: StatusCode, body: Bytes },
    /// Answer with a redirect; `{uri}`, `{path}`, `{query}` and `{host}` in `to` are
    /// replaced from the request.
    Redirect { status: StatusCode, to: String },
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
}

/// Which requests a route's tries may send again after one reached a server.
#[derive(Clone, Copy, Debug)]
pub struct Replay {
    /// Methods that are not idempotent too (`retry_non_idempotent = true`): for a backend
    /// known to be safe against a repeated POST.
    pub any_method: bool,
    /// Request bodies of at most this many bytes, of a known length, are read in full
    /// before the first try and kept for the next ones (`retry_buffer`); larger ones
    /// stream, and are sent again only if no byte of them left.
    pub max_body: u64,
}

impl Default for Replay {
    fn default() -> Self {
        Replay { any_method: false, max_body: 64 * 1024 }
    }
}

pub struct Route {
    /// `name` from the config, or `route#N` (N counts from 1 in file order).
    pub name: String,
    /// Empty means any method.
    pub methods: Vec<Method>,
    pub headers: Vec<HeaderMatch>,
    pub filters: Vec<Box<dyn Filter>>,
    pub action: Action,
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body: Option<u64>,
    /// A shadow upstream that gets a copy of the requests this route forwards.
    pub mirror: Option<crate::mirror::Mirror>,
    pub replay: Replay,
    /// Plain HTTP requests get a 308 to HTTPS on this port (`https_redirect = true`).
    pub https_redirect: Option<u16>,
    /// `Strict-Transport-Security` for answers over TLS (`hsts`).
    pub hsts: Option<http::HeaderValue>,
    pub stats: Arc<RouteStats>,
}

impl Route {
    pub fn new(name: String, action: Action) -> Route {
        Route {
            name,
            methods: Vec::new(),
            headers: Vec::new(),
            filters: Vec::new(),
            action,
            max_body: None,
            mirror: None,
            replay: Replay::default(),
            https_redirect: None,
            hsts: None,
            stats: Arc::default(),
        }
    }

    /// Whether the method and header conditions hold for `req`.
    pub fn accepts(&self, req: &request::Parts) -> bool {
        (self.methods.is_empty() || self.methods.contains(&req.method)) && self.headers.iter().all(|h| h.accepts(req))
    }
}
