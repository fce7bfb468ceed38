//! The cache as a filter on a route's chain. The request phase answers hits (and what
//! may be served stale), joins a fetch in progress, or lets the request go on; the
//! upstream phase adds the stored validators and the cache's `Surrogate-Capability`; the
//! response phase refreshes on 304, serves stale on errors, decides whether to store, and
//! says what happened in `Cache-Status`; the response-body phase tees the body into the
//! store as it streams.
//! A miss asked with the client's validators fills the cache too (`client_conditions`),
//! and so does one asked for a range (`range_fill`).
mod client_conditions;
mod lookup;
mod options;
mod part;
mod range_fill;
mod response;
mod state;

pub use options::{Bypass, RouteOptions, DEFAULT_STALE_IF_UNREACHABLE};

use crate::store::{RouteCounters, Store};
use crate::surrogate;
use crate::ttl_by_status::TtlByStatus;
use forecourt_proxy::body::ProxyBody;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, OutgoingBody, Phases, RequestCtx, Waiting};
use http::{request, Response};
use std::sync::Arc;

pub struct CacheFilter {
    pub store: Arc<Store>,
    pub options: RouteOptions,
    pub counters: Arc<RouteCounters>,
}

impl CacheFilter {
    pub fn new(store: Arc<Store>, options: RouteOptions, route: &str) -> CacheFilter {
        let counters = store.route(route);
        CacheFilter { store, options, counters }
    }
}

impl Filter for CacheFilter {
    fn describe(&self) -> FilterInfo {
        let o = &self.options;
        let mut info = FilterInfo::new(
            "cache",
            Phases::REQUEST.and(Phases::UPSTREAM).and(Phases::RESPONSE).and(Phases::RESPONSE_BODY),
        );
        if o.default_ttl != TtlByStatus::Off {
            info = info.param("default_ttl", o.default_ttl.to_string());
        }
        if o.override_ttl != TtlByStatus::Off {
            info = info.param("override_ttl", o.override_ttl.to_string());
        }
        if let Some(max) = o.max_ttl {
            info = info.param("max_ttl", format!("{max}s"));
        }
        if let Some(s) = o.stale_while_revalidate {
            info = info.param("stale_while_revalidate", format!("{s}s"));
        }
        if let Some(s) = o.stale_if_error {
            info = info.param("stale_if_error", format!("{s}s"));
        }
        match o.stale_if_unreachable {
            Some(s) => info = info.param("stale_if_unreachable", format!("{s}s")),
            None => info = info.param("stale_if_unreachable", "off"),
        }
        info
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        lookup::decide(self, head, cx)
    }

    fn wait<'a>(&'a self, head: &'a mut request::Parts, cx: &'a mut RequestCtx<'_>) -> Waiting<'a> {
        Box::pin(lookup::follow(self, head, cx))
    }

    fn on_upstream_request(&self, head: &mut request::Parts, _body: OutgoingBody<'_>, cx: &mut RequestCtx<'_>) {
        lookup::add_validators(head, cx);
        if let Some(id) = &self.options.targets.surrogate_id {
            surrogate::announce(&mut head.headers, id);
        }
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
        response::decide(self, resp, cx);
    }

    fn on_response_body(&self, body: &mut ProxyBody, cx: &mut RequestCtx<'_>) {
        response::tee(self, body, cx);
    }
}
