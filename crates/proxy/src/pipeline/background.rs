//! Requests a filter asks to have made after the client has its answer: a cache's
//! refresh of the stale response it just served (`stale-while-revalidate`). The route's
//! chain and action run again for a copy of the request head, marked [`Refresh`], off the
//! client's time; the response body is read to its end (so a filter that tees it sees it
//! all) and dropped.
use super::start;
use crate::action::Action;
use crate::body::{IncomingBody, ProxyBody, RequestBody};
use crate::conn::Conn;
use crate::filter::{Later, OutgoingBody, Refresh};
use crate::forward;
use crate::route::Route;
use crate::runtime::Runtime;
use crate::worker::Worker;
use http_body_util::BodyExt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// Runs `later` through `route` on this worker, in a task of its own.
pub fn spawn(worker: &Rc<Worker>, conn: &Conn, rt: Arc<Runtime>, route: Arc<Route>, later: Later) {
    let worker = worker.clone();
    let conn = conn.detached();
    tokio::task::spawn_local(async move {
        let Later { mut head, hold } = later;
        head.extensions.insert(Refresh);
        let mut cx = start(&worker, &conn, &rt, Instant::now(), &head);
        let r = &*route;
        let Action::Forward(forwarding) = &r.action else { return };
        let (passed, mut resp) = match r.chain.on_request(&mut head, &mut cx).await {
            Err(answer) => (answer.passed, *answer.response),
            Ok(()) => {
                r.chain.on_upstream_request(&mut head, OutgoingBody::Empty, &mut cx);
                let body = RequestBody::Unread(IncomingBody::empty());
                (r.chain.len(), forward::forward(&mut cx, forwarding, head, body).await)
            }
        };
        r.chain.on_response(passed, &mut resp, &mut cx);
        let mut exchange = cx.into_exchange();
        exchange.status = resp.status().as_u16();
        let mut body: ProxyBody = resp.into_body();
        body.attach(exchange);
        while let Some(frame) = body.frame().await {
            if frame.is_err() {
                break;
            }
        }
        drop(hold);
    });
}
