//! The filter contract: one small trait with named phases, which every capability
//! implements (the built-in policies in `crate::filters`, and crates of their own).
//!
//! A request meets a chain's filters in this order (see `pipeline/LIFECYCLE.md`):
//!
//! 1. [`Filter::on_request`], in chain order: decide on the head (go on, answer, or wait:
//!    then [`Filter::wait`] is awaited before the next filter is asked).
//! 2. [`Filter::on_request_body`], in chain order, for filters that declared
//!    [`BodyNeed::Inspect`]: the first bytes of the body, read once for all of them (and
//!    the same three outcomes).
//! 3. [`Filter::on_upstream_request`], in chain order, only when the request is forwarded,
//!    after every decision: edit what goes upstream.
//! 4. [`Filter::on_response`] then [`Filter::on_response_body`], in reverse chain order,
//!    only for the filters the request passed through.
//!
//! A filter says which phases it takes part in ([`Filter::phases`]); the chain calls
//! nothing else, so a phase a filter does not have costs nothing.
use super::context::RequestCtx;
use crate::body::ProxyBody;
use bytes::Bytes;
use http::{request, Response};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// What a filter decides on a request, at once.
pub enum Decision {
    /// Go on to the next filter.
    Continue,
    /// Answer now: the rest of the chain and the route's action are skipped.
    Answer(Box<Response<ProxyBody>>),
    /// Wait (a store lookup, a round trip, a subrequest, another request's fill): the
    /// chain awaits the filter's [`Filter::wait`], then goes on or answers as it says.
    Wait,
}

/// Marks a request the pipeline makes again after the client's answer, at a filter's
/// request ([`RequestCtx::refresh_later`]): found in the head's extensions.
#[derive(Clone, Copy, Debug)]
pub struct Refresh;

/// What a waiting filter decides in the end.
pub enum Verdict {
    Continue,
    Answer(Box<Response<ProxyBody>>),
}

/// What [`Filter::wait`] returns: a future that may borrow the request and its context,
/// and runs on the worker's thread (so it need not be `Send`).
pub type Waiting<'a> = Pin<Box<dyn Future<Output = Verdict> + 'a>>;

impl Decision {
    pub fn answer(response: Response<ProxyBody>) -> Self {
        Decision::Answer(Box::new(response))
    }
}

impl Verdict {
    pub fn answer(response: Response<ProxyBody>) -> Self {
        Verdict::Answer(Box::new(response))
    }
}

/// The phases a filter takes part in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Phases(u8);

impl Phases {
    pub const NONE: Phases = Phases(0);
    pub const REQUEST: Phases = Phases(1);
    pub const REQUEST_BODY: Phases = Phases(2);
    pub const UPSTREAM: Phases = Phases(4);
    pub const RESPONSE: Phases = Phases(8);
    pub const RESPONSE_BODY: Phases = Phases(16);
    pub const ALL: Phases = Phases(31);

    pub const fn and(self, other: Phases) -> Phases {
        Phases(self.0 | other.0)
    }

    pub const fn has(self, phase: Phases) -> bool {
        self.0 & phase.0 == phase.0 && phase.0 != 0
    }

    /// Their names, in the order a request meets them (for `explain` and the admin API).
    pub fn names(self) -> Vec<&'static str> {
        let all = [
            (Phases::REQUEST, "request"),
            (Phases::REQUEST_BODY, "request_body"),
            (Phases::UPSTREAM, "upstream"),
            (Phases::RESPONSE, "response"),
            (Phases::RESPONSE_BODY, "response_body"),
        ];
        all.iter().filter(|(p, _)| self.has(*p)).map(|(_, n)| *n).collect()
    }
}

/// How much of the request body a filter needs, declared once (when the chain is built).
/// The pipeline reads the body once, for the largest need of the chain and the route's
/// action (retries), before the upstream phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BodyNeed {
    #[default]
    None,
    /// The first this many bytes of any body, given to [`Filter::on_request_body`]; a
    /// longer body streams on after them. A filter may raise it for one request in phase
    /// 1 (`RequestCtx::inspect_body_up_to`).
    Inspect(u64),
    /// A body of a known length of at most this many bytes, read whole before the upstream
    /// phase, which sees it (a mirror copies it).
    Keep(u64),
}

/// The body as the pipeline read it for inspection.
pub struct InspectedBody {
    /// At most the inspecting filter's bound (or the one raised for this request).
    pub bytes: Bytes,
    /// The whole body is in `bytes`.
    pub complete: bool,
}

/// The request body as the upstream phase sees it.
#[derive(Clone, Copy)]
pub enum OutgoingBody<'a> {
    /// The request has no body.
    Empty,
    /// Read whole and kept: each try (and a mirror) sends it.
    Kept(&'a Bytes),
    /// It streams to the upstream as the client sends it.
    Streaming,
}

/// What a filter is, for `forecourt explain` and `GET /api/routes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterInfo {
    /// The config's name for it (`max_body`, `request_headers`, ...).
    pub kind: &'static str,
    /// A short argument shown beside the kind in a chain's one-line form:
    /// `strip_prefix(/api)`.
    pub headline: Option<String>,
    /// Every parameter, in a stable order.
    pub params: Vec<(&'static str, String)>,
    pub phases: Phases,
}

impl FilterInfo {
    pub fn new(kind: &'static str, phases: Phases) -> FilterInfo {
        FilterInfo { kind, headline: None, params: Vec::new(), phases }
    }

    pub fn headline(mut self, text: impl Into<String>) -> FilterInfo {
        self.headline = Some(text.into());
        self
    }

    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> FilterInfo {
        self.params.push((name, value.into()));
        self
    }

    /// `param`, left out when `values` is empty (an option most configs do not use).
    pub fn param_list<'a>(self, name: &'static str, values: impl IntoIterator<Item = &'a str>) -> FilterInfo {
        let joined = values.into_iter().collect::<Vec<_>>().join(",");
        match joined.is_empty() {
            true => self,
            false => self.param(name, joined),
        }
    }

    /// `kind` or `kind(headline)`.
    pub fn label(&self) -> String {
        match &self.headline {
            Some(h) => format!("{}({h})", self.kind),
            None => self.kind.to_string(),
        }
    }
}

/// One step of a chain: a value built once when the config is compiled, shared by every
/// worker (hence `Send + Sync`), and called per request in the phases it declares.
pub trait Filter: Send + Sync {
    /// What it is and which phases it takes part in.
    fn describe(&self) -> FilterInfo;

    /// The phases the chain calls; the default is those `describe` names.
    fn phases(&self) -> Phases {
        self.describe().phases
    }

    /// How much of the request body it needs (asked once, when the chain is built).
    fn body_need(&self) -> BodyNeed {
        BodyNeed::None
    }

    /// Phase 1: the request head, before the route's action. May edit the head (the
    /// action sees the edits), answer, or say it must wait. Synchronous: a filter that
    /// does not wait costs one call.
    fn on_request(&self, _head: &mut request::Parts, _cx: &mut RequestCtx<'_>) -> Decision {
        Decision::Continue
    }

    /// Phase 2: the first bytes of the body (at most its `BodyNeed::Inspect` bound, or
    /// the bound raised for this request in phase 1 by `RequestCtx::inspect_body_up_to`).
    fn on_request_body(&self, _head: &request::Parts, _body: &InspectedBody, _cx: &mut RequestCtx<'_>) -> Decision {
        Decision::Continue
    }

    /// Awaited when phase 1 or 2 said [`Decision::Wait`]; what to wait for is the filter's
    /// to remember (in its typed state in `cx`, say). Never called otherwise.
    fn wait<'a>(&'a self, _head: &'a mut request::Parts, _cx: &'a mut RequestCtx<'_>) -> Waiting<'a> {
        Box::pin(std::future::ready(Verdict::Continue))
    }

    /// Phase 3: the request as it goes upstream (only when it does), after every decision.
    fn on_upstream_request(&self, _head: &mut request::Parts, _body: OutgoingBody<'_>, _cx: &mut RequestCtx<'_>) {}

    /// Phase 4: the response head (status, headers, extensions), whoever made the
    /// response. Its body is the next phase's.
    fn on_response(&self, _resp: &mut Response<ProxyBody>, _cx: &mut RequestCtx<'_>) {}

    /// Phase 5: the response body, left as it is (no cost) or wrapped in place
    /// ([`ProxyBody::wrap_with`]).
    fn on_response_body(&self, _body: &mut ProxyBody, _cx: &mut RequestCtx<'_>) {}

    /// `client` was refused before any chain ran: a request (a malformed head, a bad first
    /// chunk, a head never finished), with the `status` it was logged with and the `cause`
    /// named as its local answer's reason (none for a head never finished, which gets no
    /// answer); or an HTTP/2 connection cut off for abuse, with no status and its cause
    /// (`Cutoff::trigger`: `h2_flood`, ...). For the filters that watch answers (bans
    /// count it as one); front chain only. What it pushes on `log` goes into the
    /// refusal's access-log line, as `RequestCtx::log` does for a served request's.
    fn on_refused(
        &self,
        _client: IpAddr,
        _status: Option<u16>,
        _cause: Option<&'static str>,
        _log: &mut Vec<(&'static str, String)>,
    ) {
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_combine_and_name_themselves_in_order() {
        let p = Phases::RESPONSE.and(Phases::REQUEST);
        assert!(p.has(Phases::REQUEST) && p.has(Phases::RESPONSE) && !p.has(Phases::UPSTREAM));
        assert!(!p.has(Phases::NONE));
        assert_eq!(p.names(), ["request", "response"]);
        assert_eq!(Phases::ALL.names().len(), 5);
        let info = FilterInfo::new("strip_prefix", Phases::UPSTREAM).headline("/api").param("prefix", "/api");
        assert_eq!(info.label(), "strip_prefix(/api)");
    }
}
