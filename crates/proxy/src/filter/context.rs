//! One request's context, carried from its first phase to its last: who the client is
//! (resolved once), the connection's facts, the request id, state that a filter hands to
//! its own later phases, and the record that becomes the access-log line.
use crate::answers::{self, Reason, Style};
use crate::body::{ClientBody, ProxyBody};
use crate::client_identity::IdentityCache;
use crate::conn::Conn;
use crate::exchange::Exchange;
use crate::metrics::Metrics;
use crate::settings::Settings;
use forecourt_upstream::{InterimSink, Pool};
use http::header::HeaderValue;
use http::Response;
use std::any::Any;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

pub struct RequestCtx<'w> {
    /// The connection's facts: the socket peer, TLS, SNI, client certificate.
    pub conn: &'w Conn,
    /// The client's address: the peer's, or, from a `trusted_proxies` peer, the address
    /// its forwarding headers give (see `client_address`).
    pub client: IpAddr,
    pub request_id: HeaderValue,
    /// When the request head was complete.
    pub started: Instant,
    /// The worker's upstream pool: subrequests go through it.
    pub pool: &'w Rc<Pool<ClientBody>>,
    pub(crate) settings: &'w Settings,
    pub(crate) identities: &'w IdentityCache,
    pub(crate) metrics: &'static Metrics,
    pub(crate) exchange: Exchange,
    /// The HTTP/1.1 client asked to switch protocols (and may, if the upstream agrees).
    pub(crate) upgrade: bool,
    /// Where the origin's interim responses go (an HTTP/1.1 client's connection), if
    /// anywhere.
    pub(crate) interim: Option<&'w dyn InterimSink>,
    /// The most request body bytes accepted (`max_body`).
    pub(crate) body_limit: Option<u64>,
    /// The request has a body, or may have one (false: the head said there is none —
    /// `Content-Length: 0`, no framing on HTTP/1, `END_STREAM` on HTTP/2's headers).
    pub(crate) has_body: bool,
    /// This request's body is read this far for the filters that inspect bodies, when that
    /// is more than they declared (see `inspect_body_up_to`); 0: as declared.
    pub(crate) inspect_up_to: u64,
    style: Style,
    /// The reason of the last local answer made for this request, if any.
    local: std::cell::Cell<Option<Reason>>,
    /// Filters' typed state, by type: empty (no allocation) until a filter keeps some.
    state: Vec<Box<dyn Any>>,
    /// A request to make after the answer (see `refresh_later`).
    later: Option<Box<Later>>,
}

/// A request to make later, and what the asking filter holds until it is done (a claim
/// that keeps a second refresh of the same key from starting).
pub struct Later {
    pub head: http::request::Parts,
    pub hold: Box<dyn Any>,
}

/// What a request's context borrows from its worker and its snapshot.
pub(crate) struct Borrowed<'w> {
    pub conn: &'w Conn,
    pub pool: &'w Rc<Pool<ClientBody>>,
    pub identities: &'w IdentityCache,
    pub metrics: &'static Metrics,
    pub settings: &'w Settings,
}

impl<'w> RequestCtx<'w> {
    pub(crate) fn new(
        from: Borrowed<'w>,
        started: Instant,
        request_id: HeaderValue,
        client: IpAddr,
        style: Style,
    ) -> RequestCtx<'w> {
        let Borrowed { conn, pool, identities, metrics, settings } = from;
        RequestCtx {
            conn,
            client,
            request_id,
            started,
            pool,
            settings,
            identities,
            metrics,
            exchange: Exchange::start(started, metrics),
            upgrade: false,
            interim: None,
            body_limit: None,
            has_body: true,
            inspect_up_to: 0,
            style,
            local: std::cell::Cell::new(None),
            state: Vec::new(),
            later: None,
        }
    }

    /// The request's record, once its response is made (it closes with the body).
    pub(crate) fn into_exchange(self) -> Exchange {
        self.exchange
    }

    /// The catalogue's answer for `reason`, in this client's terms, with the request id.
    pub fn answer(&self, reason: Reason) -> Response<ProxyBody> {
        self.answering(reason);
        answers::answer(reason, self.style, &self.request_id).map(ProxyBody::full)
    }

    /// How this client expects Forecourt's own answers (gRPC status, JSON, HTML, text).
    pub fn style(&self) -> Style {
        self.style
    }

    /// Records that Forecourt answers this request itself for `reason` with a response of
    /// the filter's own making (a challenge page): counted, and seen by the response
    /// phases, as [`RequestCtx::answer`]'s are.
    pub fn answering(&self, reason: Reason) {
        self.metrics.count_local(reason);
        self.local.set(Some(reason));
    }

    /// Why Forecourt answered this request itself (the last [`RequestCtx::answer`] made),
    /// or `None` when the answer came from elsewhere: for the response phases.
    pub fn local_answer(&self) -> Option<Reason> {
        self.local.get()
    }

    /// Whether the request has a body, or may have one: a filter that needs to see the
    /// whole request (the WAF) can decide on a request without one in phase 1.
    pub fn has_body(&self) -> bool {
        self.has_body
    }

    /// Asks, in phase 1, that this request's body be read up to `n` bytes for the filters
    /// that inspect bodies, beyond the bound they declared (`BodyNeed::Inspect`): a filter
    /// that inspects some kinds of body whole (the WAF, a multipart upload) raises it for
    /// those requests only, so that every other body is held no longer than declared.
    pub fn inspect_body_up_to(&mut self, n: u64) {
        self.inspect_up_to = self.inspect_up_to.max(n);
    }

    /// Adds `name: value` to this request's access-log line (cache status, rule ids, the
    /// limiter's key, the user); nothing when the log is off.
    pub fn log(&mut self, name: &'static str, value: impl Into<String>) {
        self.exchange.add_log_field(name, value.into());
    }

    /// Asks for `head` to go through the route again once this request is answered, off
    /// the client's time, marked with the [`Refresh`](super::Refresh) extension (a cache
    /// refreshing the stale response it served). `hold` is kept until that request is done.
    pub fn refresh_later(&mut self, head: http::request::Parts, hold: Box<dyn Any>) {
        self.later = Some(Box::new(Later { head, hold }));
    }

    pub(crate) fn take_later(&mut self) -> Option<Later> {
        self.later.take().map(|l| *l)
    }

    /// No request body beyond `max` bytes (413): checked as the body streams.
    pub fn limit_body(&mut self, max: u64) {
        self.body_limit = Some(self.body_limit.map_or(max, |m| m.min(max)));
    }

    /// Keeps `value` for this filter's later phases (one value per type; a second
    /// replaces the first).
    pub fn insert<T: 'static>(&mut self, value: T) {
        match self.get_mut::<T>() {
            Some(slot) => *slot = value,
            None => self.state.push(Box::new(value)),
        }
    }

    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.state.iter().find_map(|s| s.downcast_ref::<T>())
    }

    pub fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.state.iter_mut().find_map(|s| s.downcast_mut::<T>())
    }

    pub fn take<T: 'static>(&mut self) -> Option<T> {
        let at = self.state.iter().position(|s| s.is::<T>())?;
        self.state.swap_remove(at).downcast::<T>().ok().map(|b| *b)
    }
}
