//! A chain: filters in order, built once when the config is compiled, and run phase by
//! phase for every request that meets it. Each phase calls only the filters that declared
//! it; a filter that does not wait costs one call.
use super::context::RequestCtx;
use super::contract::{BodyNeed, Decision, Filter, FilterInfo, InspectedBody, OutgoingBody, Phases, Verdict};
use crate::body::ProxyBody;
use bytes::Bytes;
use http::{request, Response};
use std::net::IpAddr;

/// A filter and what it declared when the chain was built.
struct Step {
    filter: Box<dyn Filter>,
    phases: Phases,
    /// `BodyNeed::Inspect`'s bound (0: it inspects nothing).
    inspects: u64,
}

#[derive(Default)]
pub struct Chain {
    steps: Vec<Step>,
    /// Every phase some filter has: a phase nobody has is skipped whole.
    any: Phases,
    /// The largest `BodyNeed::Inspect` and `BodyNeed::Keep` of the chain.
    inspect: u64,
    keep: u64,
}

/// Where a synchronous run of phase 1 or 2 stopped.
enum Stop {
    Passed,
    Answered(usize, Box<Response<ProxyBody>>),
    /// Filter `at` waits.
    Waiting(usize),
}

/// A chain's answer: the response, and how many filters the request passed through (the
/// ones whose response phases run).
pub struct Answered {
    pub passed: usize,
    /// Boxed, as the filter made it: a chain that lets the request pass returns a small
    /// value, and the common request copies nothing big.
    pub response: Box<Response<ProxyBody>>,
}

impl Chain {
    pub fn new(filters: Vec<Box<dyn Filter>>) -> Chain {
        let mut chain = Chain::default();
        for filter in filters {
            let phases = filter.phases();
            let inspects = match filter.body_need() {
                BodyNeed::Inspect(n) if phases.has(Phases::REQUEST_BODY) => n,
                BodyNeed::Keep(n) => {
                    chain.keep = chain.keep.max(n);
                    0
                }
                _ => 0,
            };
            chain.inspect = chain.inspect.max(inspects);
            chain.any = chain.any.and(phases);
            chain.steps.push(Step { filter, phases, inspects });
        }
        chain
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Each filter, in order, as `explain` and the admin API show it.
    pub fn describe(&self) -> Vec<FilterInfo> {
        self.steps.iter().map(|s| s.filter.describe()).collect()
    }

    /// The chain's largest body needs: (inspect, keep), 0 for none.
    pub fn body_needs(&self) -> (u64, u64) {
        (self.inspect, self.keep)
    }

    /// Whether any filter decides on request heads (phase 1): the pipeline asks first, so
    /// that a chain without one costs no call.
    pub fn decides(&self) -> bool {
        self.any.has(Phases::REQUEST)
    }

    /// Phase 1: every filter decides on the head, in order; a waiting one is awaited
    /// before the next is asked.
    pub async fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Result<(), Answered> {
        let mut from = 0;
        loop {
            let waiting = match self.decide_from(from, head, cx) {
                Stop::Passed => return Ok(()),
                Stop::Answered(at, resp) => return Err(Answered { passed: at, response: resp }),
                Stop::Waiting(at) => at,
            };
            match self.steps[waiting].filter.wait(head, cx).await {
                Verdict::Continue => from = waiting + 1,
                Verdict::Answer(resp) => return Err(Answered { passed: waiting, response: resp }),
            }
        }
    }

    /// Phase 1 from filter `from` on, without waiting: until a filter answers or waits.
    fn decide_from(&self, from: usize, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Stop {
        for (at, step) in self.steps.iter().enumerate().skip(from) {
            if step.phases.has(Phases::REQUEST) {
                match step.filter.on_request(head, cx) {
                    Decision::Continue => {}
                    Decision::Answer(resp) => return Stop::Answered(at, resp),
                    Decision::Wait => return Stop::Waiting(at),
                }
            }
        }
        Stop::Passed
    }

    /// Phase 2: the filters that inspect bodies see the first bytes of this one, each at
    /// most its own bound, or the bound a filter raised for this request in phase 1
    /// (`RequestCtx::inspect_body_up_to`); `read` holds the most any of them asked for.
    pub async fn on_request_body(
        &self,
        head: &mut request::Parts,
        read: &Bytes,
        complete: bool,
        cx: &mut RequestCtx<'_>,
    ) -> Result<(), Answered> {
        for (at, step) in self.steps.iter().enumerate() {
            if step.inspects == 0 {
                continue;
            }
            let bound = step.inspects.max(cx.inspect_up_to);
            let seen = read.len().min(usize::try_from(bound).unwrap_or(usize::MAX));
            let view = InspectedBody { bytes: read.slice(..seen), complete: complete && seen == read.len() };
            let verdict = match step.filter.on_request_body(head, &view, cx) {
                Decision::Continue => continue,
                Decision::Answer(resp) => Verdict::Answer(resp),
                Decision::Wait => step.filter.wait(head, cx).await,
            };
            if let Verdict::Answer(resp) = verdict {
                return Err(Answered { passed: at, response: resp });
            }
        }
        Ok(())
    }

    /// Phase 3: the request as it goes upstream, in order.
    pub fn on_upstream_request(&self, head: &mut request::Parts, body: OutgoingBody<'_>, cx: &mut RequestCtx<'_>) {
        if !self.any.has(Phases::UPSTREAM) {
            return;
        }
        for step in self.steps.iter().filter(|s| s.phases.has(Phases::UPSTREAM)) {
            step.filter.on_upstream_request(head, body, cx);
        }
    }

    /// Tells every filter of a client refused before any chain ran
    /// ([`Filter::on_refused`]); the fields they noted for the refusal's log line.
    pub fn on_refused(
        &self,
        client: IpAddr,
        status: Option<u16>,
        cause: Option<&'static str>,
    ) -> Vec<(&'static str, String)> {
        let mut log = Vec::new();
        for step in &self.steps {
            step.filter.on_refused(client, status, cause, &mut log);
        }
        log
    }

    /// Phases 4 and 5: the response head and body, in reverse order, through the first
    /// `passed` filters (those the request passed through). In place: nothing is moved.
    pub fn on_response(&self, passed: usize, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
        if !self.any.has(Phases::RESPONSE) && !self.any.has(Phases::RESPONSE_BODY) {
            return;
        }
        for step in self.steps[..passed.min(self.steps.len())].iter().rev() {
            if step.phases.has(Phases::RESPONSE) {
                step.filter.on_response(resp, cx);
            }
            if step.phases.has(Phases::RESPONSE_BODY) {
                step.filter.on_response_body(resp.body_mut(), cx);
            }
        }
    }
}
