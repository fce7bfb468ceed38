//! `global.hide_headers`: response headers that reveal what runs behind the proxy
//! (`Server`, `X-Powered-By` by default) are removed from forwarded responses. A header
//! the route's own `response_headers` writes is not in the list (compile sees to it), so
//! the route's word stands.
use crate::filter::{Filter, FilterInfo, Phases, RequestCtx};
use http::header::HeaderName;
use http::response;

pub struct HideResponseHeaders(pub Vec<HeaderName>);

impl Filter for HideResponseHeaders {
    fn describe(&self) -> FilterInfo {
        let names: Vec<&str> = self.0.iter().map(HeaderName::as_str).collect();
        FilterInfo::new("hide_response_headers", Phases::RESPONSE).param("names", names.join(", "))
    }

    fn on_response(&self, head: &mut response::Parts, _: &mut RequestCtx<'_>) {
        for name in &self.0 {
            head.headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::Fixture;

    #[test]
    fn listed_headers_are_removed() {
        let resp = http::Response::builder().header("server", "app/1.0").header("x-keep", "1").body(()).unwrap();
        let (mut h, ()) = resp.into_parts();
        HideResponseHeaders(vec![http::header::SERVER]).on_response(&mut h, &mut Fixture::plain().cx());
        assert!(!h.headers.contains_key("server") && h.headers.contains_key("x-keep"));
    }
}
