//! The per-route filter chain: small values with one trait, built once when the config is
//! compiled and run in order for every request the route serves.
use crate::body::ProxyBody;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{request, response, Response};
use std::net::SocketAddr;

/// What a request filter decides.
pub enum Flow {
    /// Go on to the next filter, then the route's action.
    Continue,
    /// Answer now; the rest of the chain and the action are skipped.
    Respond(Box<Response<ProxyBody>>),
}

/// Facts about the request that filters may read.
pub struct Ctx<'a> {
    pub client: SocketAddr,
    pub request_id: &'a HeaderValue,
}

/// One step of a route's chain. Both hooks default to doing nothing.
pub trait Filter: Send + Sync {
    /// A short name, shown by `forecourt explain`.
    fn name(&self) -> String;

    fn on_request(&self, _req: &mut request::Parts, _ctx: &Ctx<'_>) -> Flow {
        Flow::Continue
    }

    fn on_response(&self, _resp: &mut response::Parts) {}
}

/// `set`, `add` and `remove` rules for one header map, applied in that order:
/// remove, then set (replace), then add (append).
#[derive(Debug, Default, Clone)]
pub struct HeaderRules {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderRules {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// `request_headers = { ... }`: rewrites the headers sent to the upstream.
pub struct RequestHeaders(pub HeaderRules);

impl Filter for RequestHeaders {
    fn name(&self) -> String {
        "request_headers".into()
    }
    fn on_request(&self, req: &mut request::Parts, _ctx: &Ctx<'_>) -> Flow {
        self.0.apply(&mut req.headers);
        Flow::Continue
    }
}

/// `response_headers = { ... }`: rewrites the headers sent to the client.
pub struct ResponseHeaders(pub HeaderRules);

impl Filter for ResponseHeaders {
    fn name(&self) -> String {
        "response_headers".into()
    }
    fn on_response(&self, resp: &mut response::Parts) {
        self.0.apply(&mut resp.headers);
    }
}

/// `strip_prefix = "/api"`: removes a leading path segment before forwarding.
pub struct StripPrefix(pub String);

impl Filter for StripPrefix {
    fn name(&self) -> String {
        format!("strip_prefix({})", self.0)
    }
    fn on_request(&self, req: &mut request::Parts, _ctx: &Ctx<'_>) -> Flow {
        let path = req.uri.path();
        let Some(rest) = path.strip_prefix(self.0.as_str()) else {
            return Flow::Continue;
        };
        // "/api" strips "/api/x" and "/api", but not "/apix".
        if !(rest.is_empty() || rest.starts_with('/') || self.0.ends_with('/')) {
            return Flow::Continue;
        }
        let mut new = String::with_capacity(path.len() + 1);
        if !rest.starts_with('/') {
            new.push('/');
        }
        new.push_str(rest);
        if let Some(q) = req.uri.query() {
            new.push('?');
            new.push_str(q);
        }
        let mut parts = req.uri.clone().into_parts();
        parts.path_and_query = new.parse().ok();
        if let Ok(uri) = http::Uri::from_parts(parts) {
            req.uri = uri;
        }
        Flow::Continue
    }
}

/// Removes headers that reveal what runs behind the proxy (`Server`, `X-Powered-By` by default).
pub struct HideResponseHeaders(pub Vec<HeaderName>);

impl Filter for HideResponseHeaders {
    fn name(&self) -> String {
        "hide_response_headers".into()
    }
    fn on_response(&self, resp: &mut response::Parts) {
        for name in &self.0 {
            resp.headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str) -> request::Parts {
        http::Request::get(uri).body(()).unwrap().into_parts().0
    }

    fn strip(prefix: &str, uri: &str) -> String {
        let mut p = parts(uri);
        let id = HeaderValue::from_static("x");
        let ctx = Ctx { client: "127.0.0.1:1".parse().unwrap(), request_id: &id };
        let _ = StripPrefix(prefix.into()).on_request(&mut p, &ctx);
        p.uri.to_string()
    }

    #[test]
    fn strip_prefix_keeps_query_and_leading_slash() {
        assert_eq!(strip("/api", "/api/users?x=1"), "/users?x=1");
        assert_eq!(strip("/api", "/api"), "/");
        assert_eq!(strip("/api/", "/api/users"), "/users");
        assert_eq!(strip("/api", "/apix"), "/apix");
    }

    #[test]
    fn header_rules_remove_then_set_then_add() {
        let rules = HeaderRules {
            set: vec![(HeaderName::from_static("x-a"), HeaderValue::from_static("1"))],
            add: vec![(HeaderName::from_static("x-b"), HeaderValue::from_static("2"))],
            remove: vec![HeaderName::from_static("x-c")],
        };
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("0"));
        h.insert("x-b", HeaderValue::from_static("1"));
        h.insert("x-c", HeaderValue::from_static("gone"));
        rules.apply(&mut h);
        assert_eq!(h.get("x-a").unwrap(), "1");
        assert_eq!(h.get_all("x-b").iter().count(), 2);
        assert!(h.get("x-c").is_none());
    }
}
