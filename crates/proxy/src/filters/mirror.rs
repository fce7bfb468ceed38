//! `mirror = { upstream, percent }`: a copy of the route's forwarded requests (all, or a
//! sampled share) goes to a shadow upstream; its answer is read and thrown away. The copy
//! runs as a task of its own, so it never delays the real exchange, and at most
//! [`MAX_IN_FLIGHT`] copies per route are out at once, so a slow shadow cannot pile work
//! up in the proxy. Requests without a body are copied, and those whose body the pipeline
//! kept (a known length within the route's `retry_buffer`); others stream and are not.
use crate::body::ClientBody;
use crate::filter::{BodyNeed, Filter, FilterInfo, OutgoingBody, Phases, RequestCtx};
use crate::forward::prepare_head;
use bytes::Bytes;
use forecourt_upstream::state::{now_ns, ns_at};
use forecourt_upstream::{random_below, InlineRequest, PickInput, Pool, UpstreamGroup};
use http::request;
use http_body_util::BodyExt;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Copies out at once, per route, beyond which requests are not mirrored.
pub const MAX_IN_FLIGHT: u32 = 256;

pub struct Mirror {
    pub group: Arc<UpstreamGroup>,
    /// Share of requests copied, in hundredths of a percent (10000 = all).
    pub per_10k: u64,
    /// Bodies of a known length up to this are kept, and copied (`retry_buffer`).
    pub keep: u64,
    /// Requests copied.
    pub mirrored: AtomicU32,
    in_flight: Arc<AtomicU32>,
}

impl Mirror {
    pub fn new(group: Arc<UpstreamGroup>, percent: f64, keep: u64) -> Mirror {
        let per_10k = (percent * 100.0).round().clamp(0.0, 10_000.0) as u64;
        Mirror { group, per_10k, keep, mirrored: AtomicU32::new(0), in_flight: Arc::default() }
    }
}

impl Filter for Mirror {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("mirror", Phases::UPSTREAM)
            .headline(self.group.name.clone())
            .param("upstream", self.group.name.clone())
            .param("percent", format!("{}", self.per_10k as f64 / 100.0))
            .param("body_bytes", self.keep.to_string())
    }

    fn body_need(&self) -> BodyNeed {
        BodyNeed::Keep(self.keep)
    }

    /// Sends a copy of this request, as the real upstream gets it, if it is sampled and
    /// the shadow is not too far behind.
    fn on_upstream_request(&self, head: &mut request::Parts, body: OutgoingBody<'_>, cx: &mut RequestCtx<'_>) {
        let body = match body {
            _ if cx.upgrade => return,
            OutgoingBody::Empty => None,
            OutgoingBody::Kept(bytes) => Some(bytes.clone()),
            OutgoingBody::Streaming => return,
        };
        if self.per_10k < 10_000 && random_below(10_000) >= self.per_10k {
            return;
        }
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let mut copy = http::Request::new(());
        *copy.method_mut() = head.method.clone();
        *copy.uri_mut() = head.uri.clone();
        *copy.version_mut() = head.version;
        *copy.headers_mut() = head.headers.clone();
        let (mut parts, ()) = copy.into_parts();
        let Ok(extra) = prepare_head(cx, &self.group, &mut parts, body.is_none()) else {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return;
        };
        self.mirrored.fetch_add(1, Ordering::Relaxed);
        let job = Copy { group: self.group.clone(), pool: cx.pool.clone(), extra, body, client: cx.client };
        let in_flight = self.in_flight.clone();
        tokio::task::spawn_local(async move {
            job.send(parts).await;
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

struct Copy {
    group: Arc<UpstreamGroup>,
    pool: Rc<Pool<ClientBody>>,
    extra: Bytes,
    body: Option<Bytes>,
    client: IpAddr,
}

impl Copy {
    async fn send(self, parts: http::request::Parts) {
        let input = PickInput { client: self.client, uri: &parts.uri, headers: &parts.headers };
        let members = self.group.members();
        let Some(picked) = self.group.pick(&members, &input, 0, now_ns()) else { return };
        let ep = picked.endpoint;
        let sent = Instant::now();
        let mut in_flight = ep.state.start(ns_at(sent));
        let timeouts = &self.group.timeouts;
        let result = match self.body {
            None => {
                let inline = InlineRequest { parts: &parts, extra_head: &self.extra, body: &[], interim: None };
                self.pool.send_head(ep, timeouts, &inline).await
            }
            Some(body) => {
                let req = http::Request::from_parts(parts, ClientBody::kept(body));
                self.pool.send(ep, self.group.protocol, timeouts, req).await.map_err(|failure| failure.error)
            }
        };
        in_flight.answered();
        match result {
            Ok(resp) => {
                ep.state.observe(sent.elapsed(), now_ns());
                // Read to the end, so the connection goes back to the pool.
                let _ = resp.into_body().collect().await;
            }
            Err(e) => {
                ep.state.penalise(now_ns());
                tracing::debug!(upstream = %self.group.name, server = %ep.label, error = %e, "mirrored copy failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{head, Fixture};
    use forecourt_upstream::{
        Algorithm, GroupPolicies, Protocol, Resolved, ServerSpec, ServerTarget, UpstreamTimeouts,
    };
    use std::time::Duration;

    /// A shadow upstream nobody listens on: copies are made and fail quietly.
    fn shadow() -> Arc<UpstreamGroup> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let spec = ServerSpec {
            label: addr.to_string(),
            target: ServerTarget::Addr(addr),
            weight: 1,
            backup: false,
            max_conns: None,
            tls: None,
        };
        let timeouts = UpstreamTimeouts {
            connect: Duration::from_millis(200),
            response_header: Duration::from_millis(200),
            idle: Duration::from_secs(1),
            max_idle: 1,
        };
        Arc::new(UpstreamGroup::new(
            &Arc::default(),
            "shadow".into(),
            vec![spec],
            Resolved::new(),
            &Algorithm::RoundRobin,
            Protocol::Http1,
            timeouts,
            GroupPolicies::default(),
        ))
    }

    #[tokio::test]
    async fn requests_without_a_body_and_kept_bodies_are_copied_streaming_ones_are_not() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let f = Fixture::plain();
                let mirror = Mirror::new(shadow(), 100.0, 1024);
                assert_eq!(mirror.body_need(), BodyNeed::Keep(1024));
                let kept = Bytes::from_static(b"body");
                for body in [OutgoingBody::Empty, OutgoingBody::Kept(&kept), OutgoingBody::Streaming] {
                    mirror.on_upstream_request(&mut head("POST", "/x", &[("host", "a")]), body, &mut f.cx());
                }
                let mut upgrading = f.cx();
                upgrading.upgrade = true;
                mirror.on_upstream_request(
                    &mut head("GET", "/ws", &[("host", "a")]),
                    OutgoingBody::Empty,
                    &mut upgrading,
                );
                assert_eq!(
                    mirror.mirrored.load(Ordering::Relaxed),
                    2,
                    "body-less and kept; not streaming, not upgrades"
                );

                let never = Mirror::new(shadow(), 0.0, 1024);
                never.on_upstream_request(&mut head("GET", "/", &[("host", "a")]), OutgoingBody::Empty, &mut f.cx());
                assert_eq!(never.mirrored.load(Ordering::Relaxed), 0, "0% copies nothing");
                // The copies run on this thread and let go of their slots when they end.
                let started = Instant::now();
                while mirror.in_flight.load(Ordering::Relaxed) > 0 && started.elapsed() < Duration::from_secs(5) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert_eq!(mirror.in_flight.load(Ordering::Relaxed), 0);
            })
            .await;
    }
}
