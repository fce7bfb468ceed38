//! The filter that applies limits: on a route's chain (`limits = [...]`) or on the front
//! chain (`[global] limits`), before anything else of its chain answers. Every limit
//! whose key the request has counts it; the first that refuses answers 429; a delaying
//! limit holds the request for its turn (the longest of them). Local limits decide at
//! once; shared ones (`store = "redis"`) while Redis is up are asked in the wait, after.
//! A limit whose action is `challenge` sends a client over it without a pass to the
//! challenge page instead of refusing it. A client in one of a limit's `exempt` lists is
//! not counted by it; a limit in a dry run only logs what it would have done.
use super::registry::{Action, Limit, Outcome};
use crate::challenge::Gate;
use crate::lists::{in_any, IpList};
use forecourt_proxy::answers::Reason;
use forecourt_proxy::body::ProxyBody;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx, Verdict, Waiting};
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use http::{request, Response};
use std::sync::Arc;
use std::time::Duration;

pub struct RateLimitFilter {
    pub limits: Vec<AppliedLimit>,
    /// The route's name (what a `route` key part counts by); `*` on the front chain.
    pub route: Arc<str>,
    /// `[challenge]`, for limits whose action is `challenge`.
    pub gate: Option<Arc<Gate>>,
}

/// A limit as a chain applies it: with the clients it does not count.
pub struct AppliedLimit {
    pub limit: Arc<Limit>,
    /// `exempt = [...]`: lists whose clients this limit lets by uncounted.
    pub exempt: Vec<Arc<IpList>>,
}

impl AppliedLimit {
    fn exempts(&self, cx: &RequestCtx<'_>) -> bool {
        in_any(&self.exempt, cx.client)
    }
}

/// What the wait still has to do: ask the shared limits (by index), then hold the
/// request for the longest delay.
struct Pending {
    shared: Vec<usize>,
    hold: Duration,
}

impl Filter for RateLimitFilter {
    fn describe(&self) -> FilterInfo {
        let names: Vec<&str> = self.limits.iter().map(|l| l.limit.name.as_str()).collect();
        let dry_run = self.limits.iter().filter(|l| l.limit.spec.dry_run).map(|l| l.limit.name.as_str());
        let exempt: Vec<String> = self
            .limits
            .iter()
            .flat_map(|l| l.exempt.iter().map(move |list| format!("{}:{}", l.limit.name, list.name)))
            .collect();
        FilterInfo::new("rate_limit", Phases::REQUEST)
            .param("limits", names.join(","))
            .param_list("dry_run", dry_run)
            .param_list("exempt", exempt.iter().map(String::as_str))
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        let mut pending = Pending { shared: Vec::new(), hold: Duration::ZERO };
        for (i, applied) in self.limits.iter().enumerate() {
            if applied.exempts(cx) {
                continue;
            }
            let limit = &applied.limit;
            if limit.asks_redis() {
                pending.shared.push(i);
                continue;
            }
            let outcome = limit.decide(head, cx.client, &self.route);
            if let Err(answer) = self.apply(limit, outcome, &mut pending.hold, head, cx) {
                return Decision::Answer(answer);
            }
        }
        if pending.hold.is_zero() && pending.shared.is_empty() {
            return Decision::Continue;
        }
        cx.insert(pending);
        Decision::Wait
    }

    fn wait<'a>(&'a self, head: &'a mut request::Parts, cx: &'a mut RequestCtx<'_>) -> Waiting<'a> {
        Box::pin(async move {
            let Some(mut pending) = cx.take::<Pending>() else { return Verdict::Continue };
            for i in pending.shared {
                let limit = &self.limits[i].limit;
                let outcome = limit.decide_shared(head, cx.client, &self.route).await;
                if let Err(answer) = self.apply(limit, outcome, &mut pending.hold, head, cx) {
                    return Verdict::Answer(answer);
                }
            }
            if !pending.hold.is_zero() {
                tokio::time::sleep(pending.hold).await;
            }
            Verdict::Continue
        })
    }
}

impl RateLimitFilter {
    /// Logs what `limit` decided: a delay lengthens `hold`, a refusal (or a challenge) is
    /// the answer.
    fn apply(
        &self,
        limit: &Limit,
        outcome: Outcome,
        hold: &mut Duration,
        head: &request::Parts,
        cx: &mut RequestCtx<'_>,
    ) -> Result<(), Box<Response<ProxyBody>>> {
        match outcome {
            Outcome::Skip | Outcome::Allow => Ok(()),
            Outcome::WouldLimit { delay } => {
                let would = match (delay, limit.spec.action) {
                    (true, _) => "would_delay",
                    (false, Action::Challenge) => "would_challenge",
                    (false, _) => "would_reject",
                };
                cx.log("limit", format!("{}:{would}", limit.name));
                Ok(())
            }
            Outcome::Delay(wait) => {
                cx.log("limit", format!("{}:delayed", limit.name));
                *hold = (*hold).max(wait);
                Ok(())
            }
            Outcome::Reject { retry_after } => match self.challenger(limit, head, cx) {
                Some(gate) if gate.has_pass(head, cx.client) => {
                    cx.log("limit", format!("{}:passed", limit.name));
                    Ok(())
                }
                Some(gate) => {
                    cx.log("limit", format!("{}:challenged", limit.name));
                    Err(Box::new(gate.challenge(head, cx, &format!("limit:{}", limit.name))))
                }
                None => {
                    cx.log("limit", format!("{}:rejected", limit.name));
                    Err(Box::new(too_many(limit, retry_after, cx)))
                }
            },
        }
    }

    /// The challenge that may stand in for `limit`'s refusal of this request: none on the
    /// challenge's exempt paths or for its exempt clients (an ACME validator, a monitor:
    /// neither runs the page's JavaScript), which a limit that would challenge refuses
    /// with its 429 instead, as one that rejects.
    fn challenger(&self, limit: &Limit, head: &request::Parts, cx: &RequestCtx<'_>) -> Option<&Gate> {
        let gate = self.gate.as_deref().filter(|_| limit.spec.action == Action::Challenge)?;
        (!gate.exempt(head.uri.path()) && !gate.exempt_client(cx.client)).then_some(gate)
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
