//! `global.hide_headers`: response headers that reveal what runs behind the proxy
//! (`Server`, `X-Powered-By` by default) are removed from forwarded responses. A header
//! the route's own `response_headers` writes is not in the list (compile sees to it), so
//! the route's word stands.
use crate::body::ProxyBody;
use crate::filter::{Filter, FilterInfo, Phases, RequestCtx};
use http::header::HeaderName;
use http::Response;

pub struct HideResponseHeaders(pub Vec<HeaderName>);

impl Filter for HideResponseHeaders {
    fn describe(&self) -> FilterInfo {
        let names: Vec<&str> = self.0.iter().map(HeaderName::as_str).collect();
        FilterInfo::new("hide_response_headers", Phases::RESPONSE).param("names", names.join(", "))
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, _: &mut RequestCtx<'_>) {
        // Most responses carry none of the names: one pass over their few fields, comparing
        // names (standard ones by tag), costs less than a hashed removal per name.
        let headers = resp.headers_mut();
        if !headers.keys().any(|name| self.0.contains(name)) {
            return;
        }
        for name in &self.0 {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::Fixture;

    #[test]
    fn listed_headers_are_removed() {
        let resp = Response::builder().header("server", "app/1.0").header("x-keep", "1");
        let mut resp = resp.body(ProxyBody::empty()).unwrap();
        HideResponseHeaders(vec![http::header::SERVER]).on_response(&mut resp, &mut Fixture::plain().cx());
        assert!(!resp.headers().contains_key("server") && resp.headers().contains_key("x-keep"));
        let resp = Response::builder().header("x-powered-by", "php").header("x-powered-by", "x").header("x-keep", "1");
        let mut resp = resp.body(ProxyBody::empty()).unwrap();
        let hide = HideResponseHeaders(vec![http::header::SERVER, HeaderName::from_static("x-powered-by")]);
        hide.on_response(&mut resp, &mut Fixture::plain().cx());
        assert!(!resp.headers().contains_key("x-powered-by"), "every value of a listed custom name");
        assert!(resp.headers().contains_key("x-keep"));
    }
}
