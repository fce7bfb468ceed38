//! The front chain's `geoip` filter: looks the client up once, puts its country and ASN
//! in request headers (for the upstream, and for routes that match on country), having
//! dropped any the client sent, and in the access log.
use super::db::Geo;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use http::header::{HeaderName, HeaderValue};
use http::request;
use std::sync::Arc;

pub struct GeoFilter {
    pub geo: Arc<Geo>,
    pub country_header: Option<HeaderName>,
    pub asn_header: Option<HeaderName>,
}

impl Filter for GeoFilter {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("geoip", Phases::REQUEST).param("databases", self.geo.paths().join(","))
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        let place = self.geo.lookup(cx.client);
        if let Some(name) = &self.country_header {
            head.headers.remove(name);
            if let Some(code) = place.country_str() {
                head.headers.insert(name.clone(), HeaderValue::from_str(code).expect("two ASCII letters"));
            }
        }
        if let Some(name) = &self.asn_header {
            head.headers.remove(name);
            if let Some(asn) = place.asn {
                head.headers.insert(name.clone(), HeaderValue::from(asn));
            }
        }
        if let Some(code) = place.country_str() {
            cx.log("country", code);
        }
        if let Some(asn) = place.asn {
            cx.log("asn", asn.to_string());
        }
        Decision::Continue
    }
}
