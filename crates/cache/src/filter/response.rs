//! The response phases: invalidation by unsafe methods, a validated response refreshed
//! (304), stale served on errors and when the origin cannot be reached, the decision to
//! store, `Cache-Status`, and the tee that stores the body as it streams to the client (and
//! to the requests that follow it).
use super::client_conditions;
use super::lookup::{serve, within, CACHE_STATUS};
use super::part::{self, Window};
use super::range_fill;
use super::state::{CacheState, Pending};
use super::CacheFilter;
use crate::body_pages;
use crate::directives::Directives;
use crate::fills::{Leader, SharedHead};
use crate::freshness::{now, Timing};
use crate::partial;
use crate::storable::{self, NotStored};
use crate::store::{RouteCounters, Store};
use crate::stored::{owned_headers, Freshness, Stored};
use crate::vary;
use bytes::Bytes;
use forecourt_proxy::answers::Reason;
use forecourt_proxy::body::ProxyBody;
use forecourt_proxy::filter::RequestCtx;
use http::header::{HeaderMap, HeaderValue, AGE, CONTENT_LOCATION, LOCATION};
use http::{Method, Response, StatusCode};
use http_body::{Body, Frame};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub fn decide(f: &CacheFilter, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
    let Some(mut state) = cx.take::<CacheState>() else { return };
    let t = now();
    let status = resp.status();
    if state.invalidates && (status.is_success() || status.is_redirection()) {
        invalidate(f, &state, resp.headers());
    }
    state.status.fwd_status = Some(status.as_u16());
    if let Some(stale) = state.stale.clone() {
        // A 304 (RFC 9111 §4.3.4), or a HEAD's 200 that describes it (§4.3.5), freshens it.
        let head_describes =
            status == StatusCode::OK && state.method == Method::HEAD && describes(&stale, resp.headers());
        if status == StatusCode::NOT_MODIFIED || head_describes {
            let refreshed = Arc::new(refresh(f, &stale, resp.headers(), state.request_time, t));
            f.store.put(&state.key, &state.url, refreshed.clone());
            RouteCounters::count(&f.counters.revalidated);
            state.status.ttl = Some(refreshed.ttl(t));
            *resp = answer_from(f, &refreshed, &state, t, cx);
            return;
        }
        if status.is_server_error() && stale.may_serve_stale() {
            let error_window = f.options.stale_if_error.or(stale.directives.stale_if_error);
            // No answer from the origin at all (RFC 9111 §4.2.4's "disconnected"): stale
            // may be served without the origin's leave, for as long as the route allows.
            // So may one still fresh that was being validated only because the client asked
            // (`no-cache`, `max-age`): §5.2.1 makes those preferences, and a copy that
            // would be served were it stale is not refused for being fresh.
            let unreachable = origin_unreachable(cx).then_some(f.options.stale_if_unreachable).flatten();
            let freshness = stale.freshness(t);
            let fresh = freshness == Freshness::Fresh;
            // A copy still fresh is served as what it is: a hit, with the cause named.
            let detail = match (within(freshness, error_window), within(freshness, unreachable)) {
                (true, _) => Some("stale-if-error"),
                (false, true) => Some("stale-if-unreachable"),
                (false, false) if fresh && unreachable.is_some() => Some("origin-unreachable"),
                (false, false) => None,
            };
            if let Some(detail) = detail {
                RouteCounters::count(if fresh { &f.counters.hit } else { &f.counters.stale });
                state.status.detail = Some(detail);
                state.status.ttl = Some(stale.ttl(t));
                *resp = answer_from(f, &stale, &state, t, cx);
                return;
            }
        }
    }
    let decided = match state.store {
        // Forecourt's own answer (a 502 for an origin it could not reach, a 504) is no
        // response of the origin's to keep, whatever a `default_ttl` by status says.
        _ if cx.local_answer().is_some() => Err(None),
        true => storable_head(f, &state, resp, t, status.as_u16()),
        false if state.store_part && status == StatusCode::PARTIAL_CONTENT => part_head(f, &mut state, resp, t),
        false => Err(None),
    };
    f.options.hide_private_fields(resp.headers_mut());
    match decided {
        Ok(stored) => {
            RouteCounters::count(&f.counters.miss);
            state.status.stored = true;
            state.status.ttl = Some(stored.ttl(t));
            if let Some(leader) = &state.leader {
                leader.share(SharedHead {
                    status: stored.status,
                    headers: stored.headers.clone(),
                    vary: stored.vary.clone(),
                    vary_key: stored.vary_key.clone(),
                });
            }
            state.pending = Some(Pending { stored });
        }
        Err(why) => {
            if state.range_fill {
                // Its next ranges go as they are, for a while (`range_passes.rs`).
                f.store.range_passes.remember(&state.key);
            }
            if let Some(leader) = state.leader.take() {
                leader.release();
            }
            if state.stale.is_none() && state.status.outcome != Some(crate::status::Outcome::Bypass) {
                RouteCounters::count(&f.counters.miss);
            }
            state.status.detail = state.status.detail.or(why.map(NotStored::as_str));
        }
    }
    resp.headers_mut().insert(CACHE_STATUS, state.status.value());
    cx.log("cache", state.status.log_word());
    let not_modified = state.client_conditions && client_conditions::answer_not_modified(resp, &state.headers);
    state.window = match not_modified || (state.head_as_get && state.store) {
        true => Some(Window::NONE),
        false if state.range_fill => range_fill::part_of(resp, &state.headers),
        false => None,
    };
    if state.pending.is_some() || state.window.is_some() {
        cx.insert(state);
    }
}

/// The response-body phase: a response to store has its body teed into the store.
pub fn tee(f: &CacheFilter, body: &mut ProxyBody, cx: &mut RequestCtx<'_>) {
    let Some(state) = cx.take::<CacheState>() else { return };
    let max = f.store.config.max_object;
    let (window, stored) = (state.window, state.pending.is_some());
    if let Some(pending) = state.pending {
        let store = f.store.clone();
        body.wrap_with(move |inner| Tee {
            inner: Some(inner),
            store,
            key: state.key,
            url: state.url,
            stored: Some(pending.stored),
            leader: state.leader,
            parts: Vec::new(),
            size: 0,
            max,
            detached: false,
        });
    }
    if let Some(window) = window {
        // The client gets none of the body (a 304, a HEAD) or its range's part; the rest
        // goes into the store whole, or is drained as far as a small body goes.
        part::carve(body, window, if stored { max } else { DRAIN_LIMIT });
    }
}

/// How much of a body not stored is read on after the client was answered 304, so that
/// the upstream connection can be used again (beyond it, the connection is dropped).
const DRAIN_LIMIT: u64 = 256 * 1024;

/// The stored form of a 206 to a range that went upstream as it was, if it may be stored:
/// judged as the 200 it is a part of, kept under the part's key (`partial.rs`).
fn part_head(
    f: &CacheFilter,
    state: &mut CacheState,
    resp: &Response<ProxyBody>,
    t: u64,
) -> Result<Stored, Option<NotStored>> {
    if partial::span(resp.headers()).is_none() {
        return Err(Some(NotStored::Status));
    }
    let stored = storable_head(f, state, resp, t, StatusCode::OK.as_u16())?;
    state.key = partial::key(&state.key).into();
    Ok(stored)
}

/// The stored form of this response's head, if it may be stored; `status` is the one its
/// storability and freshness are judged by.
fn storable_head(
    f: &CacheFilter,
    state: &CacheState,
    resp: &Response<ProxyBody>,
    t: u64,
    status: u16,
) -> Result<Stored, Option<NotStored>> {
    let (d, targeted, overridden) = f.options.directives(status, resp.headers());
    let rules = storable::Rules {
        default_ttl: &f.options.default_ttl,
        overridden,
        store_set_cookie: f.options.store_set_cookie,
    };
    let method = if state.head_as_get { &Method::GET } else { &state.method };
    storable::check(method, &state.headers, status, resp.headers(), &d, targeted, rules).map_err(Some)?;
    if resp.body().size_hint().lower() > f.store.config.max_object {
        return Err(Some(NotStored::TooLarge));
    }
    let mut headers = owned_headers(resp.headers());
    let tags = take_tags(f, &mut headers);
    headers.remove(AGE);
    headers.remove(CACHE_STATUS);
    unstore_fields(&mut headers, &d);
    let vary = vary::names(&headers);
    let vary_key = vary::key(&state.headers, &vary);
    let private_fields = f.options.has_private_fields(&headers);
    let timing = Timing::of(resp.headers(), state.request_time, t);
    Ok(Stored {
        status: resp.status(),
        timing,
        lifetime: f.options.lifetime(status, resp.headers(), &d, &timing),
        directives: d,
        headers,
        body: Bytes::new(),
        body_file: None,
        vary,
        vary_key,
        tags,
        private_fields,
        hits: Default::default(),
    })
}

/// Whether this request's answer is the proxy's own for an origin it could not get an
/// answer from (refused, reset, timed out, no server up), not the origin's own 5xx.
fn origin_unreachable(cx: &RequestCtx<'_>) -> bool {
    matches!(
        cx.local_answer(),
        Some(
            Reason::UpstreamUnreachable
                | Reason::UpstreamFailed
                | Reason::UpstreamTimeout
                | Reason::UpstreamBusy
                | Reason::NoServer
        )
    )
}

/// RFC 9111 §4.3.5: whether a 200 to a HEAD describes the stored response — every
/// validator it has (`ETag`, `Last-Modified`) and its `Content-Length`, if it has one,
/// the same as the stored response's — so that its fields update it.
fn describes(stored: &Stored, head: &HeaderMap) -> bool {
    [http::header::ETAG, http::header::LAST_MODIFIED].iter().all(|name| match head.get(name) {
        Some(value) => stored.headers.get(name) == Some(value),
        None => true,
    }) && head
        .get(http::header::CONTENT_LENGTH)
        .is_none_or(|len| len.to_str().ok().and_then(|l| l.trim().parse::<usize>().ok()) == Some(stored.body.len()))
}

/// RFC 9111 §4.3.4: the stored response with the 304's (or the HEAD's 200's) fields in
/// place of its own.
fn refresh(f: &CacheFilter, stale: &Stored, fresh: &HeaderMap, request_time: u64, t: u64) -> Stored {
    let mut headers = stale.headers.clone();
    for name in fresh.keys() {
        if matches!(name.as_str(), "content-length" | "content-encoding" | "transfer-encoding" | "content-range") {
            continue;
        }
        headers.remove(name);
        for v in fresh.get_all(name) {
            headers.append(name.clone(), HeaderValue::from_bytes(v.as_bytes()).unwrap_or_else(|_| v.clone()));
        }
    }
    let mut tags = take_tags(f, &mut headers);
    if tags.is_empty() {
        tags = stale.tags.clone();
    }
    headers.remove(AGE);
    let (d, _, _) = f.options.directives(stale.status.as_u16(), &headers);
    unstore_fields(&mut headers, &d);
    let private_fields = f.options.has_private_fields(&headers);
    let timing = Timing::of(fresh, request_time, t);
    Stored {
        status: stale.status,
        timing,
        lifetime: f.options.lifetime(stale.status.as_u16(), &headers, &d, &timing),
        directives: d,
        headers,
        body: stale.body.clone(),
        body_file: stale.body_file.clone(),
        vary: stale.vary.clone(),
        vary_key: stale.vary_key.clone(),
        tags,
        private_fields,
        hits: Default::default(),
    }
}

/// The client's answer from a stored response (its own conditions, ranges and method).
fn answer_from(
    f: &CacheFilter,
    stored: &Stored,
    state: &CacheState,
    t: u64,
    cx: &mut RequestCtx<'_>,
) -> Response<ProxyBody> {
    let mut head = http::Request::new(()).into_parts().0;
    head.method = state.method.clone();
    head.uri = state.uri.clone();
    head.headers = state.headers.clone();
    serve(f, stored, &head, t, &state.status, cx)
}

/// The fields a qualified `no-cache` or `private` keeps out of the stored response.
fn unstore_fields(headers: &mut HeaderMap, d: &Directives) {
    for name in &d.unstored_fields {
        headers.remove(&**name);
    }
}

/// The purge tags a response carries, removed from its fields.
fn take_tags(f: &CacheFilter, headers: &mut HeaderMap) -> Vec<Box<str>> {
    let mut tags = Vec::new();
    for name in &f.options.tag_headers {
        for v in headers.get_all(name).iter().filter_map(|v| v.to_str().ok()) {
            tags.extend(v.split([',', ' ']).map(str::trim).filter(|t| !t.is_empty()).map(Box::from));
        }
        headers.remove(name);
    }
    tags
}

/// RFC 9111 §4.4: a successful unsafe request invalidates its URI and the same-origin
/// `Location` and `Content-Location`.
fn invalidate(f: &CacheFilter, state: &CacheState, resp: &HeaderMap) {
    f.store.invalidate(&state.url);
    let (origin, _) = crate::key::split_url(&state.url);
    for name in [LOCATION, CONTENT_LOCATION] {
        let Some(target) = resp.get(name).and_then(|v| v.to_str().ok()) else { continue };
        let url = match target.starts_with('/') {
            true => format!("{origin}{target}"),
            false if target.starts_with(origin) && target[origin.len()..].starts_with('/') => target.to_string(),
            false => continue,
        };
        f.store.invalidate(&url);
    }
}

/// The response body on its way to the client, copied into the store (and to the
/// followers) as it streams; stored whole at its end, if it fits.
struct Tee {
    inner: Option<ProxyBody>,
    store: Arc<Store>,
    key: Arc<str>,
    url: Arc<str>,
    stored: Option<Stored>,
    leader: Option<Leader>,
    parts: Vec<Bytes>,
    size: u64,
    max: u64,
    /// Reading on without a client (see `Drop`).
    detached: bool,
}

impl Tee {
    /// Stores the response, then ends the fetch its followers share, in that order: ended
    /// first, a request for the key arriving while the body was assembled found neither
    /// the fetch nor the stored response and went upstream.
    fn finish(&mut self, complete: bool) {
        if let Some(mut stored) = self.stored.take().filter(|_| complete && self.size <= self.max) {
            let body = body_pages::assemble(self.parts.iter().map(|p| &p[..]), self.size as usize);
            (stored.body, stored.body_file) = (body.bytes, body.file);
            self.parts.clear();
            self.store.put(&self.key, &self.url, Arc::new(stored));
        }
        if let Some(leader) = self.leader.take() {
            leader.end(complete);
        }
    }
}

impl Body for Tee {
    type Data = Bytes;
    type Error = forecourt_proxy::body::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Some(leader) = &this.leader {
                        leader.chunk(data);
                    }
                    this.size += data.len() as u64;
                    if this.stored.is_some() && this.size <= this.max {
                        this.parts.push(data.clone());
                    } else {
                        this.parts.clear();
                    }
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.as_ref().map_or_else(|| http_body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        let ended = self.inner.as_ref().is_some_and(|b| b.is_end_stream());
        let wanted = self.stored.is_some() || self.leader.is_some();
        if !ended && wanted && !self.detached && tokio::task::try_id().is_some() {
            // The client went away before the end: the fetch goes on without it (as
            // Varnish's does), so that the requests following it are not cut and the
            // object is still stored. Upstream timeouts bound it.
            let rest = Tee {
                inner: self.inner.take(),
                store: self.store.clone(),
                key: self.key.clone(),
                url: self.url.clone(),
                stored: self.stored.take(),
                leader: self.leader.take(),
                parts: std::mem::take(&mut self.parts),
                size: self.size,
                max: self.max,
                detached: true,
            };
            tokio::task::spawn_local(read_to_end(rest));
            return;
        }
        // Cut for good (the origin's body broke, or shutdown): nothing stored, followers
        // released.
        self.finish(ended);
    }
}

/// Reads a detached tee to its end; its frames go to the store and the followers.
async fn read_to_end(mut rest: Tee) {
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut rest).poll_frame(cx)).await {
        // Past max_object it will not be stored: no reason to read on.
        if frame.is_err() || rest.size > rest.max {
            break;
        }
    }
}
