//! `response_headers = { set, add, remove }`: the headers the client gets, on every answer
//! of the route (the upstream's, and those of the filters after it in the chain).
use super::header_rules::HeaderRules;
use crate::filter::{Filter, FilterInfo, Phases, RequestCtx};
use http::response;

pub struct ResponseHeaders(pub HeaderRules);

impl Filter for ResponseHeaders {
    fn describe(&self) -> FilterInfo {
        let mut info = FilterInfo::new("response_headers", Phases::RESPONSE);
        info.params = self.0.params();
        info
    }

    fn on_response(&self, head: &mut response::Parts, _: &mut RequestCtx<'_>) {
        self.0.apply(&mut head.headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::Fixture;
    use http::header::{HeaderName, HeaderValue};

    #[test]
    fn the_client_gets_the_rewritten_headers() {
        let rules = HeaderRules {
            add: vec![(HeaderName::from_static("x-served-by"), HeaderValue::from_static("forecourt"))],
            ..HeaderRules::default()
        };
        let (mut h, ()) = http::Response::new(()).into_parts();
        ResponseHeaders(rules).on_response(&mut h, &mut Fixture::plain().cx());
        assert_eq!(h.headers["x-served-by"], "forecourt");
    }
}
