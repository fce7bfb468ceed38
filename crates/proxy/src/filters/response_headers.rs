//! `response_headers = { set, add, remove }`: the headers the client gets, on every answer
//! of the route (the upstream's, and those of the filters after it in the chain).
use super::header_rules::HeaderRules;
use crate::body::ProxyBody;
use crate::filter::{Filter, FilterInfo, Phases, RequestCtx};
use http::Response;

pub struct ResponseHeaders(pub HeaderRules);

impl Filter for ResponseHeaders {
    fn describe(&self) -> FilterInfo {
        let mut info = FilterInfo::new("response_headers", Phases::RESPONSE);
        info.params = self.0.params();
        info
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, _: &mut RequestCtx<'_>) {
        self.0.apply(resp.headers_mut());
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
        let mut resp = Response::new(ProxyBody::empty());
        ResponseHeaders(rules).on_response(&mut resp, &mut Fixture::plain().cx());
        assert_eq!(resp.headers()["x-served-by"], "forecourt");
    }
}
