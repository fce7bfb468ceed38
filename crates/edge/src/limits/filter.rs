//! The filter that applies limits: on a route's chain (`limits = [...]`) or on the front
//! chain (`[global] limits`), before anything else of its chain answers. Every limit
//! whose key the request has counts it; the first that refuses answers 429; a delaying
//! limit holds the request for its turn (the longest of them).
use super::registry::{Limit, Outcome};
use forecourt_proxy::answers::Reason;
use forecourt_proxy::body::ProxyBody;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx, Verdict, Waiting};
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::{request, Response};
use std::sync::Arc;
use std::time::Duration;

pub struct RateLimitFilter {
    pub limits: Vec<Arc<Limit>>,
    /// The route's name (what a `route` key part counts by); `*` on the front chain.
    pub route: Arc<str>,
}

/// The wait a delaying limit asked for.
struct Hold(Duration);

impl Filter for RateLimitFilter {
    fn describe(&self) -> FilterInfo {
        let names: Vec<&str> = self.limits.iter().map(|l| l.name.as_str()).collect();
        FilterInfo::new("rate_limit", Phases::REQUEST).param("limits", names.join(","))
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        let mut hold = Duration::ZERO;
        for limit in &self.limits {
            match limit.decide(head, cx.client, &self.route) {
                Outcome::Skip | Outcome::Allow => {}
                Outcome::Delay(wait) => {
                    cx.log("limit", format!("{}:delayed", limit.name));
                    hold = hold.max(wait);
                }
                Outcome::Reject { retry_after } => {
                    cx.log("limit", format!("{}:rejected", limit.name));
                    return Decision::answer(too_many(limit, retry_after, cx));
                }
            }
        }
        if hold.is_zero() {
            return Decision::Continue;
        }
        cx.insert(Hold(hold));
        Decision::Wait
    }

    fn wait<'a>(&'a self, _head: &'a mut request::Parts, cx: &'a mut RequestCtx<'_>) -> Waiting<'a> {
        Box::pin(async move {
            if let Some(Hold(wait)) = cx.take::<Hold>() {
                tokio::time::sleep(wait).await;
            }
            Verdict::Continue
        })
    }
}

/// The 429: `Retry-After` in whole seconds (at least 1), and the limit's policy and state
/// in the IETF draft's `RateLimit-Policy` and `RateLimit` fields.
fn too_many(limit: &Limit, retry_after: Duration, cx: &RequestCtx<'_>) -> Response<ProxyBody> {
    let mut resp = cx.answer(Reason::RateLimited);
    let retry = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let retry = retry.max(1);
    let rate = limit.spec.rate;
    let window = rate.per_ns / 1_000_000_000;
    let policy = format!("\"{}\";q={};w={window}", limit.name, rate.count);
    let state = format!("\"{}\";r=0;t={retry}", limit.name);
    let h = resp.headers_mut();
    h.insert(RETRY_AFTER, HeaderValue::from(retry));
    for (name, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), value);
        }
    }
    resp
}
