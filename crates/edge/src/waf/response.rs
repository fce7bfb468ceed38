//! Response inspection (`response_inspection = true`; off by default, as ModSecurity's
//! `SecResponseBodyAccess`): the response head goes through SecLang's phase 3, where a
//! refusal replaces the upstream's answer with the catalogue's 403; a text, JSON, XML or
//! JavaScript body up to `response_body_limit` is held until it has all come, then goes
//! through phase 4 (CRS's data-leakage rules) before any of it is sent. A refusal there
//! ends the response with an error (its head has gone, so the client sees a broken
//! response, never the leak); a longer body, or another type, passes uninspected.
use super::audit::Entry;
use super::policy::{for_the_body, WafPolicy};
use super::verdict::{Outcome, Verdict};
use bytes::Bytes;
use forecourt_proxy::body::{BoxError, ProxyBody};
use forecourt_seclang::Transaction;
use http::Response;
use http_body::{Body, Frame};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Runs phase 3 on the response head.
pub fn head(tx: &mut Transaction, resp: &Response<ProxyBody>) {
    let protocol = match resp.version() {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    tx.set_response_status(resp.status().as_u16(), protocol);
    for (name, value) in resp.headers() {
        let _ = tx.add_response_header(name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    let _ = tx.process_response_headers();
}

/// Whether a response body of this type is inspected (what leaks is text).
pub fn inspects(resp: &Response<ProxyBody>) -> bool {
    let Some(essence) = super::inspect::media_type(resp.headers()) else { return false };
    essence.starts_with("text/")
        || essence.ends_with("/json")
        || essence.ends_with("+json")
        || essence.ends_with("/xml")
        || essence.ends_with("+xml")
        || essence.ends_with("/javascript")
}

/// Who the response is for, for the audit log.
pub struct Request {
    pub id: String,
    pub client: std::net::IpAddr,
    pub method: String,
    pub target: String,
}

/// A response body held until phase 4 has judged it.
pub struct Inspected {
    inner: ProxyBody,
    tx: Option<Transaction>,
    policy: Arc<WafPolicy>,
    request: Request,
    /// Frames read and not yet let through.
    held: VecDeque<Frame<Bytes>>,
    held_bytes: usize,
    /// Judged (or given up on): what is held may go, then the rest as it comes.
    released: bool,
    inner_done: bool,
}

impl Inspected {
    pub fn new(inner: ProxyBody, tx: Transaction, policy: Arc<WafPolicy>, request: Request) -> Inspected {
        let (held, held_bytes, released, inner_done) = (VecDeque::new(), 0, false, false);
        Inspected { inner, tx: Some(tx), policy, request, held, held_bytes, released, inner_done }
    }

    /// Phase 4 on everything held: whether the body may go.
    fn judge(&mut self) -> bool {
        let Some(mut tx) = self.tx.take() else { return true };
        // A budget of its own: the one phase 3 had started when the head came, and the
        // body may have taken any time to arrive since.
        let p = &self.policy;
        tx.set_budget(p.budget + for_the_body(p.budget, self.held_bytes));
        for frame in &self.held {
            if let Some(data) = frame.data_ref() {
                let _ = tx.append_response_body(data);
            }
        }
        let _ = tx.process_response_body();
        let verdict = Verdict::of(&tx);
        if verdict.outcome == Outcome::Pass {
            return true;
        }
        let refuse = p.refuses(&verdict);
        let action = verdict.outcome.action(refuse, true);
        tracing::warn!(waf = %p.name, request_id = %self.request.id, rules = %verdict.rules.join(","), action,
            "the WAF judged a response body");
        if let Some(audit) = &p.audit {
            let r = &self.request;
            audit.write(&Entry {
                policy: &p.name,
                request_id: &r.id,
                client: r.client,
                method: &r.method,
                target: &r.target,
                action,
                verdict: &verdict,
            });
        }
        !refuse
    }
}

impl Body for Inspected {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.released {
                if let Some(frame) = this.held.pop_front() {
                    return Poll::Ready(Some(Ok(frame)));
                }
                if this.inner_done {
                    return Poll::Ready(None);
                }
                return Pin::new(&mut this.inner).poll_frame(cx);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    this.held_bytes += frame.data_ref().map_or(0, |d| d.len());
                    this.held.push_back(frame);
                    if this.held_bytes > this.policy.response_body_limit {
                        // Too long to hold: it goes uninspected, as ModSecurity's
                        // SecResponseBodyLimitAction ProcessPartial would not judge it whole.
                        this.tx = None;
                        this.released = true;
                    }
                }
                Poll::Ready(None) => {
                    this.inner_done = true;
                    this.released = true;
                    if !this.judge() {
                        this.held.clear();
                        return Poll::Ready(Some(Err("the response was refused by the WAF".into())));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.released && self.inner_done && self.held.is_empty()
    }
}
