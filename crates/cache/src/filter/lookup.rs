//! The request phase: a hit is answered here; a stale response is served (while it is
//! refreshed in the background) or validated; a miss leads or follows the fetch of its
//! key.
use super::client_conditions;
use super::part;
use super::range_fill;
use super::state::CacheState;
use super::CacheFilter;
use crate::directives::Directives;
use crate::fills::{Head, Role};
use crate::freshness::now;
use crate::partial;
use crate::purge::Purge;
use crate::respond;
use crate::status::{CacheStatus, Outcome};
use crate::store::RouteCounters;
use crate::stored::{Freshness, Stored};
use crate::vary;
use forecourt_proxy::body::{FileRegion, ProxyBody};
use forecourt_proxy::filter::{Decision, Refresh, RequestCtx, Verdict};
use forecourt_proxy::router::request_host;
use http::header::{
    HeaderValue, CACHE_CONTROL, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, LAST_MODIFIED, PRAGMA, RANGE,
};
use http::{request, Method, Response, StatusCode};
use std::sync::Arc;

pub const CACHE_STATUS: http::HeaderName = http::HeaderName::from_static("cache-status");

pub fn decide(f: &CacheFilter, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
    // RFC 9111 §4.4: any method not known to be safe invalidates, unknown ones too.
    let unsafe_method = !matches!(head.method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
    let cacheable_method = head.method == Method::GET || head.method == Method::HEAD;
    let scheme = if cx.conn.tls { "https" } else { "http" };
    let (key, url_len) = f.options.key.key(scheme, request_host(&head.uri, &head.headers), head);
    let key: Arc<str> = key.into();
    let t = now();
    // The request's head is copied into the state only for requests that go on (a hit is
    // answered here and needs none of it).
    let state_for = |head: &request::Parts, key: Arc<str>| CacheState {
        url: key[..url_len].into(),
        key,
        method: head.method.clone(),
        uri: head.uri.clone(),
        headers: head.headers.clone(),
        request_time: t,
        stale: None,
        leader: None,
        follow: None,
        invalidates: unsafe_method,
        store: false,
        head_as_get: head.method == Method::HEAD,
        client_conditions: false,
        range_fill: false,
        store_part: false,
        window: None,
        status: CacheStatus::default(),
        pending: None,
    };
    if head.method.as_str() == "PURGE" && !f.options.purge_from.0.is_empty() {
        return Decision::answer(purge(f, &key[..url_len], head, cx.client));
    }
    if !cacheable_method {
        let mut state = state_for(head, key);
        state.status.outcome = Some(Outcome::Method);
        cx.insert(state);
        return Decision::Continue;
    }
    if bypassed(f, head) {
        RouteCounters::count(&f.counters.bypass);
        let mut state = state_for(head, key);
        state.status.outcome = Some(Outcome::Bypass);
        cx.insert(state);
        return Decision::Continue;
    }
    let req_cc = request_directives(&head.headers);
    let refresh = head.extensions.get::<Refresh>().is_some();
    let client_no_cache = !f.options.ignore_client_no_cache && (req_cc.no_cache || req_cc.max_age == Some(0));
    let entry = f.store.get(&key);
    let found = entry.as_ref().and_then(|e| e.select(&head.headers)).cloned();
    if let Some(stored) = found {
        if !refresh {
            if !client_no_cache && usable(&stored, &req_cc, t) {
                RouteCounters::count(&f.counters.hit);
                let status =
                    CacheStatus { outcome: Some(Outcome::Hit), ttl: Some(stored.ttl(t)), ..CacheStatus::default() };
                return Decision::answer(serve(f, &stored, head, t, &status, cx));
            }
            if !client_no_cache && within(stored.freshness(t), swr(f, &stored)) {
                // Stale, within stale-while-revalidate: answer now, refresh behind.
                RouteCounters::count(&f.counters.stale);
                if let Some(claim) = f.store.start_refresh(&key) {
                    cx.refresh_later(head.clone(), Box::new(claim));
                }
                let status = CacheStatus {
                    outcome: Some(Outcome::Hit),
                    ttl: Some(stored.ttl(t)),
                    detail: Some("stale-while-revalidate"),
                    ..CacheStatus::default()
                };
                return Decision::answer(serve(f, &stored, head, t, &status, cx));
            }
        }
        if req_cc.only_if_cached {
            return Decision::answer(gateway_timeout());
        }
        let mut state = state_for(head, key);
        state.status.outcome = Some(if client_no_cache && !refresh { Outcome::Request } else { Outcome::Stale });
        state.stale = Some(stored);
        // A HEAD validating a stored response goes as a HEAD: its 200 updates the stored
        // head (RFC 9111 §4.3.5) and is not stored itself.
        state.store = head.method == Method::GET;
        cx.insert(state);
        return Decision::Continue;
    }
    if !refresh && !client_no_cache {
        if let Some(resp) = part_hit(f, head, &key, &req_cc, t, cx) {
            return Decision::answer(resp);
        }
    }
    if req_cc.only_if_cached {
        return Decision::answer(gateway_timeout());
    }
    let mut state = state_for(head, key);
    state.status.outcome = Some(if entry.is_some() { Outcome::VaryMiss } else { Outcome::UriMiss });
    // A miss is stored when its answer is the whole object (a HEAD is asked as a GET, a
    // range from the first byte as the whole): the client's validators go upstream with
    // it and a 200 that comes back is stored (`client_conditions.rs`). Other ranges are
    // asked as the whole too, the client's part cut from it (`range_fill.rs`); If-Match
    // and ranges with conditions go as they are, their answers not stored.
    let conditions = conditional(&head.headers);
    let whole_first = !conditions || client_conditions::fill_anyway(&head.headers);
    state.range_fill = !whole_first
        && range_fill::widens(&head.headers, f.store.config.max_object)
        && !f.store.range_passes.passes(&state.key);
    let plain = whole_first || state.range_fill;
    state.store = plain;
    state.store_part = !plain && head.method == Method::GET && only_range(&head.headers);
    state.client_conditions = plain && conditions;
    if plain && !refresh && !client_no_cache {
        // A request with validators follows a fetch in progress, and never leads one:
        // its answer may be a 304, which the others could not use.
        let role = match client_conditions::has_validators(&head.headers) {
            true => f.store.fills.in_progress_for(&state.key).map(Role::Follower),
            false => Some(f.store.fills.join(&state.key)),
        };
        match role {
            Some(Role::Leader(leader)) => state.leader = Some(leader),
            Some(Role::Follower(fill)) => {
                state.follow = Some(fill);
                cx.insert(state);
                return Decision::Wait;
            }
            None => {}
        }
    }
    cx.insert(state);
    Decision::Continue
}

/// A follower waits for the leader's head (within the lock timeout), then answers with
/// it and the body as it streams; when the leader's response is not to be shared, or
/// does not fit this request's secondary key, it goes upstream itself.
pub async fn follow(f: &CacheFilter, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Verdict {
    let Some(fill) = cx.get_mut::<CacheState>().and_then(|s| s.follow.take()) else { return Verdict::Continue };
    let shared = match tokio::time::timeout(f.options.lock_timeout, fill.head()).await {
        Ok(Head::Shared(shared)) => shared,
        Ok(_) => return Verdict::Continue,
        Err(_) => {
            if let Some(state) = cx.get_mut::<CacheState>() {
                state.status.detail = Some("lock-timeout");
            }
            return Verdict::Continue;
        }
    };
    if vary::key(&head.headers, &shared.vary) != shared.vary_key {
        return Verdict::Continue;
    }
    RouteCounters::count(&f.counters.collapsed);
    let Some(mut state) = cx.take::<CacheState>() else { return Verdict::Continue };
    state.status.collapsed = true;
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = shared.status;
    *resp.headers_mut() = shared.headers.clone();
    f.options.hide_private_fields(resp.headers_mut());
    resp.headers_mut().insert(CACHE_STATUS, state.status.value());
    cx.log("cache", state.status.log_word());
    let not_modified = state.client_conditions && client_conditions::answer_not_modified(&mut resp, &head.headers);
    if not_modified || state.head_as_get {
        return Verdict::answer(resp);
    }
    let body = fill.body();
    resp.body_mut().wrap_with(|_| body);
    if state.range_fill {
        if let Some(window) = range_fill::part_of(&mut resp, &head.headers) {
            part::carve(resp.body_mut(), window, 0);
        }
    }
    Verdict::answer(resp)
}

/// The upstream phase: a stored response being validated sends its validators (and the
/// client's own conditions and ranges stay behind: its answer is made from the result);
/// a miss asked as a whole (a HEAD, a range from the first byte) is sent so.
pub fn add_validators(head: &mut request::Parts, cx: &mut RequestCtx<'_>) {
    let Some(state) = cx.get::<CacheState>() else { return };
    if state.head_as_get && state.store {
        head.method = Method::GET;
    }
    if state.client_conditions {
        client_conditions::widen_range(&mut head.headers);
    }
    let Some(stale) = state.stale.clone() else { return };
    for name in [IF_NONE_MATCH, IF_MODIFIED_SINCE, IF_RANGE, RANGE] {
        head.headers.remove(name);
    }
    if let Some(etag) = stale.headers.get(ETAG) {
        head.headers.insert(IF_NONE_MATCH, etag.clone());
    }
    if let Some(modified) = stale.headers.get(LAST_MODIFIED) {
        head.headers.insert(IF_MODIFIED_SINCE, modified.clone());
    }
}

/// The answer from `stored`, with its `Cache-Status`.
pub fn serve(
    f: &CacheFilter,
    stored: &Stored,
    head: &request::Parts,
    now: u64,
    status: &CacheStatus,
    cx: &mut RequestCtx<'_>,
) -> Response<ProxyBody> {
    finish(f, stored, respond::answer(stored, head, now), status, cx)
}

/// `answer`, made from `stored`, as it goes to the client: without the fields meant for
/// this cache, counted as a hit of `stored`, logged, its body sent from `stored`'s memory
/// file where it has one.
fn finish(
    f: &CacheFilter,
    stored: &Stored,
    answer: Response<bytes::Bytes>,
    status: &CacheStatus,
    cx: &mut RequestCtx<'_>,
) -> Response<ProxyBody> {
    stored.hit();
    cx.log("cache", status.log_word());
    let mut resp = answer.map(|body| body_of(stored, body));
    if stored.private_fields {
        f.options.hide_private_fields(resp.headers_mut());
    }
    resp.headers_mut().insert(CACHE_STATUS, status.value());
    resp
}

/// The answer from the stored part of `key`'s object (`partial.rs`), when it may be used
/// and holds the range a GET without other conditions asks for.
fn part_hit(
    f: &CacheFilter,
    head: &request::Parts,
    key: &str,
    req_cc: &Directives,
    t: u64,
    cx: &mut RequestCtx<'_>,
) -> Option<Response<ProxyBody>> {
    if head.method != Method::GET || !only_range(&head.headers) {
        return None;
    }
    let entry = f.store.get(&partial::key(key))?;
    let stored = entry.select(&head.headers)?.clone();
    if !usable(&stored, req_cc, t) {
        return None;
    }
    let answer = partial::answer(&stored, head, t)?;
    RouteCounters::count(&f.counters.hit);
    let status = CacheStatus { outcome: Some(Outcome::Hit), ttl: Some(stored.ttl(t)), ..CacheStatus::default() };
    Some(finish(f, &stored, answer, &status, cx))
}

/// A range, with no condition but `If-Range`.
fn only_range(headers: &http::HeaderMap) -> bool {
    headers.contains_key(RANGE)
        && ![IF_NONE_MATCH, IF_MODIFIED_SINCE, http::header::IF_MATCH, http::header::IF_UNMODIFIED_SINCE]
            .iter()
            .any(|n| headers.contains_key(n))
}

/// The answer's body: when it is (a part of) a body kept in a memory file, that file's
/// region too, for `sendfile`.
fn body_of(stored: &Stored, body: bytes::Bytes) -> ProxyBody {
    let whole = stored.body.as_ptr() as usize..stored.body.as_ptr() as usize + stored.body.len();
    match &stored.body_file {
        Some(file) if !body.is_empty() && whole.contains(&(body.as_ptr() as usize)) => {
            let offset = (body.as_ptr() as usize - whole.start) as u64;
            let region = FileRegion { file: file.clone(), offset, len: body.len() as u64 };
            ProxyBody::pages(body, region)
        }
        _ => ProxyBody::full(body),
    }
}

/// Whether `stored` may answer a request with directives `req` without the origin.
fn usable(stored: &Stored, req: &Directives, now: u64) -> bool {
    if stored.always_validate() {
        return false;
    }
    let age = stored.age(now);
    if req.max_age.is_some_and(|max| age > max) {
        return false;
    }
    let ttl = stored.ttl(now);
    if req.min_fresh.is_some_and(|min| ttl < min as i64) {
        return false;
    }
    match stored.freshness(now) {
        Freshness::Fresh => true,
        Freshness::Stale(by) => {
            stored.may_serve_stale() && req.max_stale.is_some_and(|max| max.is_none_or(|max| by <= max))
        }
    }
}

/// Seconds past freshness it may be served while refreshed in the background.
fn swr(f: &CacheFilter, stored: &Stored) -> Option<u64> {
    if !stored.may_serve_stale() {
        return None;
    }
    f.options.stale_while_revalidate.or(stored.directives.stale_while_revalidate)
}

pub fn within(freshness: Freshness, window: Option<u64>) -> bool {
    match (freshness, window) {
        (Freshness::Stale(by), Some(w)) => by < w,
        _ => false,
    }
}

/// The request's own directives; `Pragma: no-cache` counts when it has no Cache-Control.
fn request_directives(headers: &http::HeaderMap) -> Directives {
    let mut d = Directives::parse(headers, &CACHE_CONTROL);
    if !headers.contains_key(CACHE_CONTROL)
        && headers.get_all(PRAGMA).iter().any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("no-cache")))
    {
        d.no_cache = true;
    }
    d
}

fn conditional(headers: &http::HeaderMap) -> bool {
    [IF_NONE_MATCH, IF_MODIFIED_SINCE, RANGE, IF_RANGE, http::header::IF_MATCH, http::header::IF_UNMODIFIED_SINCE]
        .iter()
        .any(|n| headers.contains_key(n))
}

fn bypassed(f: &CacheFilter, head: &request::Parts) -> bool {
    let b = &f.options.bypass;
    b.headers.iter().any(|h| head.headers.contains_key(h))
        || (!b.cookies.is_empty()
            && head
                .headers
                .get_all(http::header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|p| p.trim().split_once('='))
                .any(|(name, _)| b.cookies.iter().any(|c| c == name)))
}

/// `PURGE` (as Varnish and nginx's cache purge answer it): the URL's every variant removed
/// for a client in `purge_from` (made stale instead with `Soft-Purge: 1`, as Fastly's
/// `Fastly-Soft-Purge: 1`), 403 for any other.
fn purge(f: &CacheFilter, url: &str, head: &request::Parts, client: std::net::IpAddr) -> Response<ProxyBody> {
    let allowed = f.options.purge_from.contains(client);
    let soft = head.headers.get("soft-purge").is_some_and(|v| v.as_bytes() == b"1");
    let said = match (allowed, soft) {
        (false, _) => "PURGE not allowed from here\n",
        (true, false) => {
            f.store.purge_url(url);
            "purged\n"
        }
        (true, true) => {
            f.store.soft_purge(&Purge::Url(url.to_string()));
            "soft-purged\n"
        }
    };
    let mut resp = Response::new(ProxyBody::full(said));
    *resp.status_mut() = if allowed { StatusCode::OK } else { StatusCode::FORBIDDEN };
    resp
}

/// `only-if-cached` with nothing usable stored (RFC 9111 §5.2.1.7).
fn gateway_timeout() -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::empty());
    *resp.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    resp.headers_mut().insert(CACHE_STATUS, HeaderValue::from_static("Forecourt; fwd=miss; detail=only-if-cached"));
    resp
}
