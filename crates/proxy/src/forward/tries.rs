//! The upstream stage of a request: pick a server, send, and when the try fails in a way a
//! retry can hide, try another server, within the group's retry policy and budget. Every
//! try teaches the group's state: latency, failures (ejection), requests in flight.
use crate::body::ClientBody;
use crate::filter::RequestCtx;
use forecourt_upstream::state::ns_at;
use forecourt_upstream::{
    is_idempotent, InlineRequest, PickInput, PooledBody, SendFailure, UpstreamError, UpstreamGroup, UpstreamTimeouts,
};
use http::header::HeaderValue;
use http::{Request, Response};
use std::borrow::Cow;
use std::time::Instant;

pub type UpstreamResponse = Response<PooledBody<ClientBody>>;

/// How the upstream stage ended without a response to pass on.
pub enum Failure {
    /// No server could take the request: 503, with a Retry-After of this many seconds.
    NoServer(u64),
    /// The upstream's request queue was full, or the wait in it too long.
    Busy,
    /// The last try failed.
    Failed(UpstreamError),
}

/// The request as the tries send it.
pub enum Outgoing<'a> {
    /// For the inline client, without a body or with one read whole (`body`), borrowed so
    /// that it can be sent again (if its method may be repeated, or the route lets any
    /// method be).
    Head { parts: http::request::Parts, extra: &'a [u8], body: bytes::Bytes, any_method: bool },
    /// With its body read in full and kept, and a request that may be repeated: every try
    /// sends a copy. (A kept body that may not be repeated goes as `WithBody`.)
    Kept { parts: http::request::Parts, body: bytes::Bytes },
    /// With its body streaming, which can be sent again only if no byte of it left.
    WithBody(Option<Request<ClientBody>>),
}

/// The response of the first try that succeeded (or the last one, when its status asked
/// for a retry that could not be had), and the affinity cookie to set with it.
pub struct Answer {
    pub response: UpstreamResponse,
    pub set_cookie: Option<HeaderValue>,
}

pub async fn run(
    cx: &mut RequestCtx<'_>,
    group: &UpstreamGroup,
    mut outgoing: Outgoing<'_>,
) -> Result<Answer, Failure> {
    let (pool, client, interim, exchange) = (cx.pool, cx.client, cx.interim, &mut cx.exchange);
    let policy = &group.policies.retry;
    if let Some(limits) = &group.policies.limits {
        match group.state.slots.acquire(limits).await {
            Ok(slot) => exchange.hold_slot(slot),
            Err(why) => {
                tracing::warn!(upstream = %group.name, ?why, "upstream at its request limit");
                return Err(Failure::Busy);
            }
        }
    }
    let started = Instant::now();
    // Each instant read once and turned into the balancer's clock once (a subtraction of
    // two timespecs each time, several times a request otherwise).
    let started_ns = ns_at(started);
    // One list of servers for every try, even if DNS changes it meanwhile.
    let members = group.members();
    group.note_request(&members, started_ns);
    let mut tried = 0u64;
    let mut last_failure = None;
    for attempt in 0..policy.attempts {
        let (now, tried_ns) = match attempt {
            0 => (started, started_ns),
            _ => {
                let now = Instant::now();
                (now, ns_at(now))
            }
        };
        let picked = {
            let (uri, headers) = outgoing.head();
            group.pick(&members, &PickInput { client, uri, headers }, tried, tried_ns)
        };
        let Some(picked) = picked else {
            return Err(
                last_failure.map_or_else(|| Failure::NoServer(group.retry_after_secs(&members)), Failure::Failed)
            );
        };
        let ep = picked.endpoint;
        if picked.index < 64 {
            tried |= 1 << picked.index;
        }
        if attempt > 0 {
            ep.state.retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(f) = exchange.log_fields() {
            f.add_upstream(&ep.label);
        }
        let mut in_flight = ep.state.start(tried_ns);
        let timeouts = try_timeouts(group, started, now);
        let result = match &mut outgoing {
            Outgoing::Head { parts, extra, body, .. } => {
                let inline = InlineRequest { parts, extra_head: extra, body, interim };
                pool.send_head(ep, &timeouts, &inline).await
            }
            Outgoing::Kept { parts, body, .. } => {
                let req = Request::from_parts(parts.clone(), ClientBody::kept(body.clone()));
                pool.send(ep, group.protocol, &timeouts, req).await.map_err(|failure| failure.error)
            }
            Outgoing::WithBody(slot) => {
                let req = slot.take().expect("a body request is sent again only when it came back");
                pool.send(ep, group.protocol, &timeouts, req).await.map_err(|SendFailure { error, unsent }| {
                    *slot = unsent;
                    error
                })
            }
        };
        let answered = Instant::now();
        let took = answered.duration_since(now);
        in_flight.answered();
        if let Some(f) = exchange.log_fields() {
            f.upstream_time = Some(took);
        }
        let now_ns = ns_at(answered);
        let more = attempt + 1 < policy.attempts && within_deadline(group, started, answered);
        match result {
            Ok(response) => {
                ep.state.observe(took, now_ns);
                let status = response.status().as_u16();
                if group.is_failure_status(status) {
                    group.record_failure(&members, picked.index, now_ns);
                } else {
                    group.record_success(&members, picked.index, now_ns);
                }
                let retry = policy.statuses.contains(&status) && outgoing.replayable() && more;
                if !retry || !group.may_retry(&members, now_ns) {
                    exchange.hold(in_flight);
                    return Ok(Answer { response, set_cookie: picked.set_cookie.cloned() });
                }
                tracing::info!(upstream = %group.name, server = %ep.label, status, "retrying on another server");
            }
            Err(error) => {
                ep.state.penalise(now_ns);
                group.record_failure(&members, picked.index, now_ns);
                let retry = more && outgoing.may_resend(&error, policy.on_timeout);
                tracing::warn!(upstream = %group.name, server = %ep.label, error = %error, retry, "upstream try failed");
                // A refused connection cost the server nothing, so its retry takes nothing
                // from the budget (the attempts still bound it).
                let free = matches!(error, UpstreamError::Connect(_));
                if !retry || !(free || group.may_retry(&members, now_ns)) {
                    return Err(Failure::Failed(error));
                }
                last_failure = Some(error);
            }
        }
    }
    Err(last_failure.map_or(Failure::NoServer(group.retry_after_secs(&members)), Failure::Failed))
}

impl Outgoing<'_> {
    /// What the balancer may look at.
    fn head(&self) -> (&http::Uri, &http::HeaderMap) {
        match self {
            Outgoing::Head { parts, .. } | Outgoing::Kept { parts, .. } => (&parts.uri, &parts.headers),
            Outgoing::WithBody(Some(req)) => (req.uri(), req.headers()),
            Outgoing::WithBody(None) => unreachable!("a try starts only while the request is held"),
        }
    }

    /// Whether the whole request can be sent again (its body, if any, is not consumed).
    fn replayable(&self) -> bool {
        match self {
            Outgoing::Head { parts, any_method, .. } => *any_method || is_idempotent(&parts.method),
            Outgoing::Kept { .. } => true,
            Outgoing::WithBody(req) => req.is_some(),
        }
    }

    /// Whether a try that failed with `error` may be made again elsewhere: always when the
    /// server never got the request (no connection), otherwise only for a request that is
    /// safe to repeat.
    fn may_resend(&self, error: &UpstreamError, on_timeout: bool) -> bool {
        match error {
            UpstreamError::Connect(_) => true,
            UpstreamError::ConnectTimeout => on_timeout,
            UpstreamError::ResponseTimeout => on_timeout && self.replayable(),
            UpstreamError::Exchange(_) | UpstreamError::Http1(_) => self.replayable(),
        }
    }
}

/// The group's timeouts for one try, the response wait cut to the per-try timeout and to
/// what is left of the deadline.
fn try_timeouts(group: &UpstreamGroup, started: Instant, now: Instant) -> Cow<'_, UpstreamTimeouts> {
    let policy = &group.policies.retry;
    if policy.per_try_timeout.is_none() && policy.deadline.is_none() {
        return Cow::Borrowed(&group.timeouts);
    }
    let mut t = group.timeouts.clone();
    if let Some(per_try) = policy.per_try_timeout {
        t.response_header = t.response_header.min(per_try);
    }
    if let Some(deadline) = policy.deadline {
        let left = deadline.saturating_sub(now.duration_since(started));
        t.response_header = t.response_header.min(left);
        t.connect = t.connect.min(left);
    }
    Cow::Owned(t)
}

fn within_deadline(group: &UpstreamGroup, started: Instant, now: Instant) -> bool {
    group.policies.retry.deadline.is_none_or(|d| now.duration_since(started) < d)
}
