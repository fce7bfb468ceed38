//! The route chain's `waf` filter. Phase 1 runs the rules of the request head (SecLang's
//! phase 1) and, for a request without a body, the rest (SecLang's phase 2, where CRS
//! decides) at once. A request with a body keeps its transaction until the body phase
//! (which the pipeline calls for every forwarded request): the engine gets the body when
//! it is within `request_body_limit` (and parses it into arguments when it is a form,
//! multipart, JSON or XML), then runs phase 2. A refused request gets the catalogue's 403,
//! or the status or redirect its rule asks for, and never reaches the upstream. A multipart
//! upload is read whole, within `upload_limit` and the room the policy's uploads share. A
//! long body is judged off the worker's thread (`apart.rs`).
use super::apart::{judge_apart, APART_FROM};
use super::audit::Entry;
use super::inspect;
use super::policy::{for_the_body, Mode, OverLimit, WafPolicy};
use super::response;
use super::upload_room::Held;
use super::verdict::{Outcome, Verdict};
use crate::lists::in_any;
use bytes::Bytes;
use forecourt_proxy::answers::Reason;
use forecourt_proxy::body::{declared_length, ProxyBody};
use forecourt_proxy::filter::Verdict as Went;
use forecourt_proxy::filter::{BodyNeed, Decision, Filter, FilterInfo, InspectedBody, Phases, RequestCtx, Waiting};
use forecourt_seclang::Transaction;
use http::header::RETRY_AFTER;
use http::{request, HeaderValue, Response, StatusCode};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub struct WafFilter {
    pub policy: Arc<WafPolicy>,
}

/// A request's transaction, from its head's phase to its body's, with the inspection
/// time it has left: the budget counts the rules' CPU time, not the time the body takes
/// to arrive.
struct Pending(Transaction, Duration);

/// What phase 2 judges: the request's transaction, the budget its head left, the body as
/// far as it was read (whole or not), and whether its type is one the engine parses.
struct BodyToJudge {
    tx: Transaction,
    left: Duration,
    bytes: Bytes,
    complete: bool,
    parses: bool,
}

impl BodyToJudge {
    /// Runs phase 2, on whichever thread calls it (the budget is counted on that one):
    /// the transaction, and whether the body was longer than the policy inspects (then,
    /// when the policy refuses such bodies, the rules are not run).
    fn judge(self, p: &WafPolicy) -> (Transaction, bool) {
        let BodyToJudge { mut tx, left, bytes, complete, parses } = self;
        tx.set_budget(left + for_the_body(p.budget, bytes.len()));
        let over_limit = match (bytes.is_empty(), complete, parses) {
            (true, _, _) => false,
            // Within the limit (an upload's own, when it is one), any type: its rules read
            // REQUEST_BODY (Java serialized objects, smuggled requests); the engine parses
            // only forms, multipart, JSON and XML into arguments.
            (false, true, _) => {
                let len = bytes.len();
                tx.set_request_body(bytes);
                // An upload past `request_body_limit`: that is for what is not files'
                // content.
                if len as u64 > p.body_limit {
                    tx.parse_request_body();
                }
                len - tx.request_files_size() > p.body_limit as usize
            }
            // Longer, of a type that would be parsed: refused, or on uninspected.
            (false, false, true) => true,
            // Longer, of another type (an upload): streams on, uninspected.
            (false, false, false) => false,
        };
        if !(over_limit && p.over_limit == OverLimit::Reject) {
            let _ = tx.process_request_body();
        }
        (tx, over_limit)
    }
}

/// An upload waiting for room to be read whole: its size.
struct AwaitingRoom(u64);

/// A judged request's transaction, kept for the response's phases (response inspection):
/// a type of its own, so that the body phase never judges a request twice.
struct ForResponse(Transaction);

/// The request's method and target, kept for the audit log of a response body judged
/// after the request's head is gone.
struct Asked(String, String);

impl Filter for WafFilter {
    fn describe(&self) -> FilterInfo {
        let p = &self.policy;
        let responses = Phases::RESPONSE.and(Phases::RESPONSE_BODY);
        let phases = Phases::REQUEST.and(Phases::REQUEST_BODY);
        FilterInfo::new("waf", if p.response_inspection { phases.and(responses) } else { phases })
            .headline(p.name.clone())
            .param("rules", p.engine.rule_count().to_string())
            .param("paranoia_level", p.settings.paranoia_level.to_string())
            .param("anomaly_threshold", p.settings.anomaly_threshold.to_string())
            .param("mode", if p.mode == Mode::Block { "block" } else { "detect" })
            .param("request_body_limit", p.body_limit.to_string())
            .param("upload_limit", p.upload_limit.to_string())
            .param("upload_memory", p.upload_room.total().to_string())
            .param("upload_wait", format!("{:?}", p.upload_room.wait()))
            .param("response_inspection", p.response_inspection.to_string())
            .param_list("exempt_clients", p.exempt_clients.iter().map(|l| l.name.as_str()))
    }

    fn body_need(&self) -> BodyNeed {
        BodyNeed::Inspect(self.policy.body_limit)
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if in_any(&self.policy.exempt_clients, cx.client) {
            cx.log("waf", "exempt");
            return Decision::Continue;
        }
        self.policy.counters.evaluations.fetch_add(1, Ordering::Relaxed);
        let mut tx = self.policy.engine.new_transaction();
        tx.set_budget(self.policy.budget);
        if let Some(id) = cx.request_id.to_str().ok().filter(|id| !id.is_empty()) {
            tx.set_unique_id(id);
        }
        inspect::head(&mut tx, head, cx.client);
        let _ = tx.process_request_headers();
        if tx.has_intervention() || tx.out_of_time() {
            return self.decide(tx, head, cx);
        }
        if cx.has_body() {
            let left = tx.budget_left().unwrap_or(self.policy.budget);
            cx.insert(Pending(tx, left));
            // An upload is read whole (within its own limit, in the room the policy's
            // uploads share): the fields after a file are inspected as those before it are.
            let Some(size) = self.upload_read_whole(head) else { return Decision::Continue };
            return match self.policy.upload_room.try_hold(size) {
                Some(held) => self.read_whole(held, cx),
                None => {
                    cx.insert(AwaitingRoom(size));
                    Decision::Wait
                }
            };
        }
        // No body to wait for: the whole request is judged now, before any later filter
        // of the chain (the cache) can answer it.
        let _ = tx.process_request_body();
        self.decide(tx, head, cx)
    }

    fn on_request_body(&self, head: &request::Parts, body: &InspectedBody, cx: &mut RequestCtx<'_>) -> Decision {
        let Some(Pending(tx, left)) = cx.take::<Pending>() else { return Decision::Continue };
        let (bytes, complete, parses) = (body.bytes.clone(), body.complete, inspect::parses(head));
        let body = BodyToJudge { tx, left, bytes, complete, parses };
        // A long body is judged off the worker's thread, in `wait`, so that the worker's
        // other requests go on meanwhile. (One read only in part is not given to the
        // rules: nothing long to judge.)
        if body.complete && body.bytes.len() >= APART_FROM {
            cx.insert(body);
            return Decision::Wait;
        }
        let (tx, over_limit) = body.judge(&self.policy);
        self.after_body(tx, over_limit, head, cx)
    }

    /// Phase 2's wait: a long body judged apart. Phase 1's: an upload waiting for room.
    fn wait<'a>(&'a self, head: &'a mut request::Parts, cx: &'a mut RequestCtx<'_>) -> Waiting<'a> {
        Box::pin(async move {
            if let Some(body) = cx.take::<BodyToJudge>() {
                return self.judge_body_apart(body, head, cx).await;
            }
            match cx.take::<AwaitingRoom>() {
                Some(AwaitingRoom(size)) => self.wait_for_room(size, cx).await,
                None => Went::Continue,
            }
        })
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
        // The response's phases get a budget of their own.
        let Some(ForResponse(mut tx)) = cx.take::<ForResponse>() else { return };
        tx.set_budget(self.policy.budget);
        response::head(&mut tx, resp);
        if !tx.has_intervention() {
            if response::inspects(resp) {
                cx.insert(ForResponse(tx));
            }
            return;
        }
        let verdict = Verdict::of(&tx);
        let refuse = self.policy.refuses(&verdict);
        cx.log("waf", verdict.outcome.action(refuse, true));
        cx.log("waf_rules", verdict.rules.join(","));
        if refuse {
            *resp = cx.answer(Reason::WafBlocked);
        }
    }

    fn on_response_body(&self, body: &mut ProxyBody, cx: &mut RequestCtx<'_>) {
        let Some(ForResponse(tx)) = cx.take::<ForResponse>() else { return };
        let Asked(method, target) = cx.take::<Asked>().unwrap_or(Asked(String::new(), String::new()));
        let id = cx.request_id.to_str().unwrap_or("").to_string();
        let request = response::Request { id, client: cx.client, method, target };
        let policy = self.policy.clone();
        body.wrap_with(|inner| response::Inspected::new(inner, tx, policy, request));
    }
}

impl WafFilter {
    /// Phase 2 on the blocking pool (`apart.rs`), then its end on the worker.
    async fn judge_body_apart(&self, body: BodyToJudge, head: &request::Parts, cx: &mut RequestCtx<'_>) -> Went {
        let policy = self.policy.clone();
        let Some((tx, over_limit)) = judge_apart(move || body.judge(&policy)).await else {
            // The engine panicked: nothing was judged, so nothing goes on.
            tracing::error!(waf = %self.policy.name, "the WAF's inspection of a request body panicked");
            return Went::Answer(Box::new(cx.answer(Reason::WafBlocked)));
        };
        match self.after_body(tx, over_limit, head, cx) {
            Decision::Answer(resp) => Went::Answer(resp),
            _ => Went::Continue,
        }
    }

    /// An upload that found no room in phase 1 waits for some, its body unread; without
    /// room in time it is answered 503, or with `body_over_limit = "pass"` judged on what
    /// `request_body_limit` holds of it and passed on.
    async fn wait_for_room(&self, size: u64, cx: &mut RequestCtx<'_>) -> Went {
        let p = &self.policy;
        p.counters.upload_waits.fetch_add(1, Ordering::Relaxed);
        if let Some(held) = p.upload_room.hold(size).await {
            self.read_whole(held, cx);
            return Went::Continue;
        }
        p.counters.upload_no_room.fetch_add(1, Ordering::Relaxed);
        cx.log("waf_upload", "no_room");
        if p.over_limit == OverLimit::Pass {
            return Went::Continue;
        }
        let mut busy = cx.answer(Reason::Busy);
        busy.headers_mut().insert(RETRY_AFTER, HeaderValue::from(p.upload_room.wait().as_secs().max(1)));
        Went::Answer(Box::new(busy))
    }

    /// How much of this request to read whole, when it is an upload longer than
    /// `request_body_limit` (or of a length not given): up to `upload_limit`.
    fn upload_read_whole(&self, head: &request::Parts) -> Option<u64> {
        let p = &self.policy;
        if !inspect::is_upload(head) || p.upload_limit <= p.body_limit {
            return None;
        }
        match declared_length(&head.headers) {
            Some(len) if len <= p.body_limit => None,
            Some(len) => Some(len.min(p.upload_limit)),
            None => Some(p.upload_limit),
        }
    }

    /// Reads this upload whole, holding its room until the request is done.
    fn read_whole(&self, held: Held, cx: &mut RequestCtx<'_>) -> Decision {
        cx.inspect_body_up_to(self.policy.upload_limit);
        cx.insert(held);
        Decision::Continue
    }

    /// Phase 2's end, on the worker: a body longer than the policy inspects is counted, and
    /// refused when the policy says so; the rest is what the rules decided.
    fn after_body(
        &self,
        tx: Transaction,
        over_limit: bool,
        head: &request::Parts,
        cx: &mut RequestCtx<'_>,
    ) -> Decision {
        let p = &self.policy;
        if over_limit {
            p.counters.body_over_limit.fetch_add(1, Ordering::Relaxed);
            cx.log("waf_body", "over_limit");
            if p.over_limit == OverLimit::Reject {
                return Decision::answer(cx.answer(Reason::BodyTooLarge));
            }
        }
        self.decide(tx, head, cx)
    }

    /// Acts on what the rules decided: records it, and answers when it refuses; keeps the
    /// transaction for the response when responses are inspected.
    fn decide(&self, tx: Transaction, head: &request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        let verdict = Verdict::of(&tx);
        if self.policy.response_inspection && verdict.outcome == Outcome::Pass {
            let target = head.uri.path_and_query().map_or("/", |t| t.as_str());
            cx.insert(Asked(head.method.to_string(), target.to_string()));
            cx.insert(ForResponse(tx));
        }
        if !verdict.noteworthy() {
            return Decision::Continue;
        }
        let p = &self.policy;
        let refuse = p.refuses(&verdict);
        let action = verdict.outcome.action(refuse, false);
        cx.log("waf", action);
        if !verdict.rules.is_empty() {
            cx.log("waf_rules", verdict.rules.join(","));
        }
        if let Some(variable) = &verdict.variable {
            cx.log("waf_match", variable.clone());
        }
        cx.log("waf_score", verdict.score.to_string());
        if let (Some(audit), true) = (&p.audit, action != "pass") {
            let request_id = cx.request_id.to_str().unwrap_or("");
            let target = head.uri.path_and_query().map_or("/", |t| t.as_str());
            let (method, client) = (head.method.as_str(), cx.client);
            audit.write(&Entry { policy: &p.name, request_id, client, method, target, action, verdict: &verdict });
        }
        match refuse {
            false => Decision::Continue,
            true => Decision::answer(refusal(&verdict.outcome, cx)),
        }
    }
}

/// A refused request's answer, as the rule asked: its `redirect:` (302 unless it gave
/// another 3xx), or its `status:` with the catalogue's `waf_blocked` words (so that bans
/// and metrics count it as the WAF's); a `drop` (444, nginx's "close without an answer")
/// and any status that is not an error get the 403.
fn refusal(outcome: &Outcome, cx: &RequestCtx<'_>) -> Response<ProxyBody> {
    let Outcome::Block { status, redirect } = outcome else { return cx.answer(Reason::WafBlocked) };
    let asked = StatusCode::from_u16(*status).ok();
    if let Some(location) = redirect.as_deref().and_then(|url| HeaderValue::from_str(url).ok()) {
        let mut resp = Response::new(ProxyBody::empty());
        *resp.status_mut() = asked.filter(StatusCode::is_redirection).unwrap_or(StatusCode::FOUND);
        resp.headers_mut().insert(http::header::LOCATION, location);
        return resp;
    }
    let mut resp = cx.answer(Reason::WafBlocked);
    if let Some(asked) = asked.filter(|s| (s.is_client_error() || s.is_server_error()) && s.as_u16() != 444) {
        *resp.status_mut() = asked;
    }
    resp
}
