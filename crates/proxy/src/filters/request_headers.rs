//! `request_headers = { set, add, remove }`: the headers the upstream gets.
use super::header_rules::HeaderRules;
use crate::filter::{Filter, FilterInfo, OutgoingBody, Phases, RequestCtx};
use http::request;

pub struct RequestHeaders(pub HeaderRules);

impl Filter for RequestHeaders {
    fn describe(&self) -> FilterInfo {
        let mut info = FilterInfo::new("request_headers", Phases::UPSTREAM);
        info.params = self.0.params();
        info
    }

    fn on_upstream_request(&self, head: &mut request::Parts, _: OutgoingBody<'_>, _: &mut RequestCtx<'_>) {
        self.0.apply(&mut head.headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{head, Fixture};
    use http::header::{HeaderName, HeaderValue};

    #[test]
    fn the_upstream_gets_the_rewritten_headers() {
        let rules = HeaderRules {
            set: vec![(HeaderName::from_static("x-env"), HeaderValue::from_static("prod"))],
            remove: vec![HeaderName::from_static("cookie")],
            ..HeaderRules::default()
        };
        let mut h = head("GET", "/", &[("cookie", "a=1"), ("x-env", "dev")]);
        RequestHeaders(rules).on_upstream_request(&mut h, OutgoingBody::Empty, &mut Fixture::plain().cx());
        assert_eq!(h.headers["x-env"], "prod");
        assert!(!h.headers.contains_key("cookie"));
    }
}
