//! What unit tests of filters need: a request's context without a worker or sockets.
use super::context::{Borrowed, RequestCtx};
use super::contract::{Decision, Filter};
use crate::answers::Style;
use crate::body::{ClientBody, ProxyBody};
use crate::client_identity::IdentityCache;
use crate::conn::Conn;
use crate::metrics::Metrics;
use crate::settings::Settings;
use forecourt_upstream::Pool;
use http::{request, HeaderValue, Response};
use std::rc::Rc;
use std::time::Instant;

/// A connection, a worker's pieces and the settings, owned so that contexts can borrow them.
pub(crate) struct Fixture {
    pub conn: Conn,
    pub settings: Settings,
    pool: Rc<Pool<ClientBody>>,
    identities: IdentityCache,
    pub metrics: &'static Metrics,
}

impl Fixture {
    pub fn plain() -> Fixture {
        Fixture::on(Conn::new("192.0.2.1:5000".parse().unwrap(), false, None))
    }

    pub fn tls(sni: &str) -> Fixture {
        Fixture::on(Conn::new("192.0.2.1:5000".parse().unwrap(), true, Some(sni.into())))
    }

    fn on(conn: Conn) -> Fixture {
        let metrics: &'static Metrics = Box::leak(Box::default());
        Fixture {
            conn,
            settings: Settings::default(),
            pool: Pool::new(metrics.pool.clone()),
            identities: IdentityCache::default(),
            metrics,
        }
    }

    pub fn cx(&self) -> RequestCtx<'_> {
        let borrowed = Borrowed {
            conn: &self.conn,
            pool: &self.pool,
            identities: &self.identities,
            metrics: self.metrics,
            settings: &self.settings,
        };
        RequestCtx::new(borrowed, Instant::now(), HeaderValue::from_static("test-id"), self.conn.peer.ip(), Style::Text)
    }
}

/// A request head.
pub(crate) fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> request::Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// Runs a filter's request phase that does not wait: its answer, if it made one.
pub(crate) fn decide(
    filter: &dyn Filter,
    head: &mut request::Parts,
    cx: &mut RequestCtx<'_>,
) -> Option<Response<ProxyBody>> {
    match filter.on_request(head, cx) {
        Decision::Continue => None,
        Decision::Answer(resp) => Some(*resp),
        Decision::Wait => panic!("this filter does not wait"),
    }
}
