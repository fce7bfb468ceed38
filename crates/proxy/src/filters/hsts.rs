//! `hsts = "max-age=..."`: `Strict-Transport-Security` on the route's answers over TLS,
//! never over plain HTTP, where a browser must ignore it (RFC 6797 §7.2).
use crate::body::ProxyBody;
use crate::filter::{Filter, FilterInfo, Phases, RequestCtx};
use http::header::{HeaderValue, STRICT_TRANSPORT_SECURITY};
use http::Response;

pub struct Hsts(pub HeaderValue);

impl Filter for Hsts {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("hsts", Phases::RESPONSE).param("value", self.0.to_str().unwrap_or("?"))
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
        if cx.conn.tls {
            resp.headers_mut().insert(STRICT_TRANSPORT_SECURITY, self.0.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::Fixture;

    #[test]
    fn only_answers_over_tls_get_it() {
        let hsts = Hsts(HeaderValue::from_static("max-age=60"));
        let mut resp = Response::new(ProxyBody::empty());
        hsts.on_response(&mut resp, &mut Fixture::plain().cx());
        assert!(!resp.headers().contains_key(STRICT_TRANSPORT_SECURITY));
        hsts.on_response(&mut resp, &mut Fixture::tls("a").cx());
        assert_eq!(resp.headers()[STRICT_TRANSPORT_SECURITY], "max-age=60");
    }
}
