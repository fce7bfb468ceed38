//! `[[route]]` → [`Route`]s of the [`Router`]: conditions, chain (`filters.rs`) and action.
use super::filters::{self, Shared};
use super::upstreams::UpstreamTable;
use super::Ctx;
use crate::model::RouteCfg;
use bytes::Bytes;
use forecourt_proxy::action::Action;
use forecourt_proxy::forward::{Forward, Replay, Target};
use forecourt_proxy::route::{HeaderMatch, HostPattern, PathPattern, Route};
use forecourt_proxy::router::Router;
use http::header::HeaderName;
use http::{Method, StatusCode};
use std::collections::HashSet;
use std::sync::Arc;
use toml::Spanned;

pub fn compile(cx: &mut Ctx<'_>, routes: &[RouteCfg], upstreams: &UpstreamTable, shared: &Shared) -> Router {
    let mut router = Router::default();
    let mut names = HashSet::new();
    for (i, r) in routes.iter().enumerate() {
        let name = r.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_else(|| format!("route#{}", i + 1));
        if !names.insert(name.clone()) {
            if let Some(n) = &r.name {
                cx.error(n, format!("duplicate route name `{name}`"), Some("route names must be unique".into()));
            }
        }
        let hosts = hosts(cx, r);
        let path = path(cx, r);
        let Some(action) = action(cx, r, i, &name, upstreams, shared) else { continue };
        let chain = filters::route_chain(cx, r, &name, &action, upstreams, shared);
        let Some(path) = path else { continue };
        let mut route = Route::new(name.clone(), path, action);
        route.hosts = hosts;
        route.methods = methods(cx, r);
        route.headers = header_matches(cx, r);
        route.headers.extend(country_match(cx, r, shared));
        route.chain = chain;
        route.stats = cx.state.metrics.route(&name);
        router.add(Arc::new(route));
    }
    router
}

fn hosts(cx: &mut Ctx<'_>, r: &RouteCfg) -> Vec<HostPattern> {
    let mut out = Vec::new();
    for h in &r.hosts {
        let s = h.get_ref();
        let bare = s.strip_prefix("*.").unwrap_or(s);
        let ok = !bare.is_empty()
            && bare.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            && !bare.contains('*');
        if ok {
            out.push(HostPattern::parse(s));
        } else {
            cx.error(
                h,
                format!("bad host `{s}`"),
                Some("write a name such as \"example.com\", or \"*.example.com\" for its subdomains".into()),
            );
        }
    }
    out
}

fn path(cx: &mut Ctx<'_>, r: &RouteCfg) -> Option<PathPattern> {
    let Some(p) = &r.path else {
        return Some(PathPattern::Prefix("/".into()));
    };
    let s = p.get_ref();
    let literal = s.strip_prefix('=').unwrap_or(s);
    if !s.starts_with('~') && !literal.starts_with('/') {
        cx.error(
            p,
            format!("path `{s}` must start with `/`"),
            Some("a prefix \"/api/\", an exact \"=/health\" or a regex \"~^/v[0-9]+/\"".into()),
        );
        return None;
    }
    match PathPattern::parse(s) {
        Ok(pattern) => Some(pattern),
        Err(e) => {
            let first = e.to_string().lines().last().unwrap_or("").trim().to_string();
            cx.error(
                p,
                format!("invalid regex in path `{s}`: {first}"),
                Some("regex paths use Rust regex syntax after the leading `~`".into()),
            );
            None
        }
    }
}

/// The action of route `r`, the `index`th (from 0), named `name`.
fn action(
    cx: &mut Ctx<'_>,
    r: &RouteCfg,
    index: usize,
    name: &str,
    upstreams: &UpstreamTable,
    shared: &Shared,
) -> Option<Action> {
    let count = usize::from(r.upstream.is_some())
        + usize::from(r.split.is_some())
        + usize::from(r.respond.is_some())
        + usize::from(r.redirect.is_some());
    if count != 1 {
        let msg = if count == 0 { "does nothing" } else { "has more than one action" };
        let at = r.name.as_ref().map(|n| n.span()).or_else(|| r.path.as_ref().map(|p| p.span()));
        let at = at.unwrap_or_else(|| cx.source.array_table("route", index));
        cx.errors.push(cx.source.at(
            at,
            format!("route `{name}` {msg}"),
            Some("give it exactly one of upstream, split, respond or redirect".into()),
        ));
        return None;
    }
    let target = match (&r.upstream, &r.split) {
        (Some(u), _) => Some(upstreams.named(cx, u, name).map(Target::Group)),
        (None, Some(split)) => {
            Some(super::split::compile(cx, split, &r.split_sticky, name, upstreams).map(Target::Split))
        }
        (None, None) => None,
    };
    if let Some(target) = target {
        let buffer = cx.size(&r.request_buffer).unwrap_or(shared.request_buffer);
        return Some(Action::Forward(Forward { to: target?, replay: replay(cx, r), buffer }));
    }
    if let Some(at) = &r.retry_non_idempotent {
        cx.error(at, format!("route `{name}` sets retry_non_idempotent but does not forward"), None);
    }
    if let Some(at) = &r.request_buffer {
        cx.error(at, format!("route `{name}` sets request_buffer but does not forward"), None);
    }
    if let Some(resp) = &r.respond {
        let status = status(cx, resp, resp.get_ref().status)?;
        return Some(Action::Respond { status, body: Bytes::from(resp.get_ref().body.clone()) });
    }
    let redirect = r.redirect.as_ref()?;
    let status = status(cx, redirect, redirect.get_ref().status)?;
    if !status.is_redirection() {
        cx.error(redirect, format!("redirect status {status} is not a 3xx"), Some("use 301, 302, 307 or 308".into()));
        return None;
    }
    Some(Action::Redirect { status, to: redirect.get_ref().to.clone() })
}

/// `retry_non_idempotent` and `retry_buffer`, on a route that forwards.
fn replay(cx: &mut Ctx<'_>, r: &RouteCfg) -> Replay {
    let mut replay = Replay::default();
    if let Some(n) = cx.size(&r.retry_buffer) {
        replay.max_body = n;
    }
    if let Some(any) = &r.retry_non_idempotent {
        replay.any_method = *any.get_ref();
    }
    replay
}

fn status<T>(cx: &mut Ctx<'_>, at: &Spanned<T>, code: u16) -> Option<StatusCode> {
    match StatusCode::from_u16(code) {
        Ok(s) if code >= 200 => Some(s),
        _ => {
            cx.error(at, format!("bad status {code}"), Some("a status from 200 to 599".into()));
            None
        }
    }
}

fn methods(cx: &mut Ctx<'_>, r: &RouteCfg) -> Vec<Method> {
    let mut out = Vec::new();
    for m in &r.methods {
        match Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
            Ok(method) => out.push(method),
            Err(_) => cx.error(m, format!("bad method `{}`", m.get_ref()), None),
        }
    }
    out
}

/// `countries = [...]`: a condition on the header the front chain's `geoip` filter sets.
fn country_match(cx: &mut Ctx<'_>, r: &RouteCfg, shared: &Shared) -> Option<HeaderMatch> {
    let first = r.countries.first()?;
    let Some(header) = shared.country_header.clone() else {
        let hint = "add [geoip] with databases = [...] (and a country_header)";
        cx.error(first, "countries needs [geoip] and its country header", Some(hint.into()));
        return None;
    };
    let codes = super::geoip::countries(cx, &r.countries);
    let alternatives: Vec<String> = codes.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let re = regex::Regex::new(&format!("^(?:{})$", alternatives.join("|"))).ok()?;
    Some(HeaderMatch::Regex(header, re))
}

fn header_matches(cx: &mut Ctx<'_>, r: &RouteCfg) -> Vec<HeaderMatch> {
    let mut out = Vec::new();
    for (name, value) in &r.headers {
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            cx.error(value, format!("`{name}` is not a header name"), None);
            continue;
        };
        let v = value.get_ref();
        if v == "*" {
            out.push(HeaderMatch::Present(header));
        } else if let Some(re) = v.strip_prefix('~') {
            match regex::Regex::new(re) {
                Ok(re) => out.push(HeaderMatch::Regex(header, re)),
                Err(e) => cx.error(
                    value,
                    format!("invalid regex for header `{name}`: {}", e.to_string().lines().last().unwrap_or("").trim()),
                    None,
                ),
            }
        } else {
            out.push(HeaderMatch::Exact(header, v.clone()));
        }
    }
    out
}
