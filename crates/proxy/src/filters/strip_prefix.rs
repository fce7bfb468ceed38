//! `strip_prefix = "/api"`: the upstream gets the path without it (`/api/users` →
//! `/users`, `/api` → `/`; `/apix` is left alone), the query kept. A path the route took
//! only as routes read it (`//api/users`, `/%61pi/users`) loses the prefix from that
//! reading, so the upstream gets `/users` for every spelling.
use crate::filter::{Filter, FilterInfo, OutgoingBody, Phases, RequestCtx};
use crate::normal_path::normalized;
use http::request;
use std::borrow::Cow;

pub struct StripPrefix(pub String);

impl Filter for StripPrefix {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("strip_prefix", Phases::UPSTREAM).headline(self.0.clone()).param("prefix", self.0.clone())
    }

    fn on_upstream_request(&self, head: &mut request::Parts, _: OutgoingBody<'_>, _: &mut RequestCtx<'_>) {
        let raw = head.uri.path();
        let path = match raw.starts_with(self.0.as_str()) {
            true => Cow::Borrowed(raw),
            false => normalized(raw).unwrap_or(Cow::Borrowed(raw)),
        };
        let Some(rest) = path.strip_prefix(self.0.as_str()) else { return };
        // "/api" strips "/api/x" and "/api", but not "/apix".
        if !(rest.is_empty() || rest.starts_with('/') || self.0.ends_with('/')) {
            return;
        }
        let mut new = String::with_capacity(path.len() + 1);
        if !rest.starts_with('/') {
            new.push('/');
        }
        new.push_str(rest);
        if let Some(q) = head.uri.query() {
            new.push('?');
            new.push_str(q);
        }
        let mut parts = head.uri.clone().into_parts();
        parts.path_and_query = new.parse().ok();
        if let Ok(uri) = http::Uri::from_parts(parts) {
            head.uri = uri;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{head, Fixture};

    fn strip(prefix: &str, uri: &str) -> String {
        let mut h = head("GET", uri, &[]);
        StripPrefix(prefix.into()).on_upstream_request(&mut h, OutgoingBody::Empty, &mut Fixture::plain().cx());
        h.uri.to_string()
    }

    #[test]
    fn strip_prefix_keeps_query_and_leading_slash() {
        assert_eq!(strip("/api", "/api/users?x=1"), "/users?x=1");
        assert_eq!(strip("/api", "/api"), "/");
        assert_eq!(strip("/api/", "/api/users"), "/users");
        assert_eq!(strip("/api", "/apix"), "/apix");
    }

    #[test]
    fn a_path_routed_as_normalized_is_stripped_as_normalized() {
        assert_eq!(strip("/api", "//api/users?x=1"), "/users?x=1");
        assert_eq!(strip("/api", "/%61pi/./users"), "/users");
        assert_eq!(strip("/api", "/api//users"), "//users", "what begins with the prefix is cut as sent");
    }
}
