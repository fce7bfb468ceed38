//! `[[route]]` → entries of the [`Router`], each with its filter chain and action.
use super::Ctx;
use crate::diagnostic::closest;
use crate::model::{Global, HeaderRulesCfg, MirrorCfg, RouteCfg};
use bytes::Bytes;
use forecourt_proxy::filter::{Filter, HeaderRules, HideResponseHeaders, RequestHeaders, ResponseHeaders, StripPrefix};
use forecourt_proxy::metrics::metrics;
use forecourt_proxy::mirror::Mirror;
use forecourt_proxy::route::{Action, HeaderMatch, Replay, Route};
use forecourt_proxy::router::{HostPattern, PathPattern, Router};
use forecourt_upstream::{Protocol, UpstreamGroup};
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use toml::Spanned;

/// The response headers every route hides (`global.hide_headers`).
pub fn hide_headers(cx: &mut Ctx<'_>, g: &Global) -> Vec<HeaderName> {
    let Some(list) = &g.hide_headers else {
        return vec![http::header::SERVER, HeaderName::from_static("x-powered-by")];
    };
    let mut out = Vec::new();
    for name in list {
        match HeaderName::from_bytes(name.get_ref().as_bytes()) {
            Ok(n) => out.push(n),
            Err(_) => cx.error(name, format!("`{}` is not a header name", name.get_ref()), None),
        }
    }
    out
}

pub fn compile(
    cx: &mut Ctx<'_>,
    routes: &[RouteCfg],
    upstreams: &BTreeMap<String, Arc<UpstreamGroup>>,
    hide: Vec<HeaderName>,
    https_port: u16,
) -> Router {
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
        let Some(action) = action(cx, r, &name, upstreams) else { continue };
        let mut route = Route::new(name.clone(), action);
        route.methods = methods(cx, r);
        route.headers = header_matches(cx, r);
        route.max_body = cx.size(&r.max_body);
        route.mirror = r.mirror.as_ref().and_then(|m| mirror(cx, m, &name, upstreams, &route.action));
        route.replay = replay(cx, r, &name, &route.action);
        route.https_redirect = r.https_redirect.as_ref().is_some_and(|on| *on.get_ref()).then_some(https_port);
        route.hsts = r.hsts.as_ref().and_then(|v| hsts(cx, v));
        route.filters = filters(cx, r, &hide);
        route.stats = metrics().route(&name);
        if let Some(path) = path {
            router.add(&hosts, &path, Arc::new(route));
        }
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

fn action(
    cx: &mut Ctx<'_>,
    r: &RouteCfg,
    name: &str,
    upstreams: &BTreeMap<String, Arc<UpstreamGroup>>,
) -> Option<Action> {
    let count = usize::from(r.upstream.is_some())
        + usize::from(r.split.is_some())
        + usize::from(r.respond.is_some())
        + usize::from(r.redirect.is_some());
    if count != 1 {
        let msg = if count == 0 { "does nothing" } else { "has more than one action" };
        let at = r.name.as_ref().map(|n| n.span()).or_else(|| r.path.as_ref().map(|p| p.span())).unwrap_or(0..0);
        cx.errors.push(cx.source.at(
            at,
            format!("route `{name}` {msg}"),
            Some("give it exactly one of upstream, split, respond or redirect".into()),
        ));
        return None;
    }
    if let Some(u) = &r.upstream {
        return upstream(cx, u, name, upstreams).map(Action::Proxy);
    }
    if let Some(split) = &r.split {
        return super::split::compile(cx, split, &r.split_sticky, name, upstreams).map(Action::Split);
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

/// `hsts = "max-age=31536000; includeSubDomains"`: the Strict-Transport-Security value.
fn hsts(cx: &mut Ctx<'_>, v: &Spanned<String>) -> Option<HeaderValue> {
    let text = v.get_ref();
    let max_age = text.split(';').map(str::trim).find_map(|d| d.strip_prefix("max-age="));
    match (max_age.map(|n| n.trim_matches('"').parse::<u64>()), HeaderValue::from_str(text)) {
        (Some(Ok(_)), Ok(value)) => Some(value),
        _ => {
            let hint = "e.g. \"max-age=31536000; includeSubDomains\"";
            cx.error(v, format!("`{text}` is not a Strict-Transport-Security value"), Some(hint.into()));
            None
        }
    }
}

/// `retry_non_idempotent` and `retry_buffer`, on a route that forwards.
fn replay(cx: &mut Ctx<'_>, r: &RouteCfg, route: &str, action: &Action) -> Replay {
    let mut replay = Replay::default();
    if let Some(n) = cx.size(&r.retry_buffer) {
        replay.max_body = n;
    }
    if let Some(any) = &r.retry_non_idempotent {
        replay.any_method = *any.get_ref();
    }
    let forwards = matches!(action, Action::Proxy(_) | Action::Split(_));
    if let Some(at) = r.retry_non_idempotent.as_ref().filter(|_| !forwards) {
        cx.error(at, format!("route `{route}` sets retry_non_idempotent but does not forward"), None);
    }
    replay
}

/// `mirror = { upstream = "shadow", percent = 10 }`, on a route that forwards.
fn mirror(
    cx: &mut Ctx<'_>,
    m: &Spanned<MirrorCfg>,
    route: &str,
    upstreams: &BTreeMap<String, Arc<UpstreamGroup>>,
    action: &Action,
) -> Option<Mirror> {
    if !matches!(action, Action::Proxy(_) | Action::Split(_)) {
        cx.error(
            m,
            format!("route `{route}` mirrors but does not forward"),
            Some("mirror goes with upstream or split".into()),
        );
        return None;
    }
    let cfg = m.get_ref();
    let group = upstream(cx, &cfg.upstream, route, upstreams)?;
    // Copies are made of the request as the real upstream gets it, for HTTP/1.1.
    let real: Vec<&UpstreamGroup> = match action {
        Action::Proxy(g) => vec![g],
        Action::Split(split) => split.targets().iter().map(|t| &*t.group).collect(),
        _ => Vec::new(),
    };
    if let Some(other) = real.into_iter().chain([&*group]).find(|g| g.protocol != Protocol::Http1 || g.tls().is_some())
    {
        cx.error(
            m,
            format!("route `{route}` mirrors, but upstream `{}` is not plain HTTP/1.1 (h2c or TLS)", other.name),
            Some("mirroring works between plain http1 upstreams".into()),
        );
        return None;
    }
    let percent = match &cfg.percent {
        None => 100.0,
        Some(p) if (0.0..=100.0).contains(p.get_ref()) => *p.get_ref(),
        Some(p) => {
            cx.error(p, format!("mirror percent {} is not from 0 to 100", p.get_ref()), None);
            return None;
        }
    };
    Some(Mirror::new(group, percent))
}

/// The group a route names; an error with a hint if there is none by that name.
pub(super) fn upstream(
    cx: &mut Ctx<'_>,
    u: &Spanned<String>,
    route: &str,
    upstreams: &BTreeMap<String, Arc<UpstreamGroup>>,
) -> Option<Arc<UpstreamGroup>> {
    if let Some(group) = upstreams.get(u.get_ref()) {
        return Some(group.clone());
    }
    let hint = match closest(u.get_ref(), upstreams.keys().map(String::as_str)) {
        Some(c) => format!("did you mean `{c}`?"),
        None if upstreams.is_empty() => "define it with an [upstream.NAME] table".to_string(),
        None => format!("defined upstreams: {}", upstreams.keys().cloned().collect::<Vec<_>>().join(", ")),
    };
    cx.error(u, format!("route `{route}` names unknown upstream `{}`", u.get_ref()), Some(hint));
    None
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

fn filters(cx: &mut Ctx<'_>, r: &RouteCfg, hide: &[HeaderName]) -> Vec<Box<dyn Filter>> {
    let mut chain: Vec<Box<dyn Filter>> = Vec::new();
    if let Some(p) = &r.strip_prefix {
        if p.get_ref().starts_with('/') {
            chain.push(Box::new(StripPrefix(p.get_ref().clone())));
        } else {
            cx.error(p, "strip_prefix must start with `/`", None);
        }
    }
    if let Some(rules) = &r.request_headers {
        if let Some(rules) = header_rules(cx, rules) {
            chain.push(Box::new(RequestHeaders(rules)));
        }
    }
    if !hide.is_empty() && (r.upstream.is_some() || r.split.is_some()) {
        chain.push(Box::new(HideResponseHeaders(hide.to_vec())));
    }
    if let Some(rules) = &r.response_headers {
        if let Some(rules) = header_rules(cx, rules) {
            chain.push(Box::new(ResponseHeaders(rules)));
        }
    }
    chain
}

fn header_rules(cx: &mut Ctx<'_>, cfg: &Spanned<HeaderRulesCfg>) -> Option<HeaderRules> {
    let c = cfg.get_ref();
    let mut ok = true;
    let mut pairs = |map: &BTreeMap<String, String>, cx: &mut Ctx<'_>| -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::new();
        for (k, v) in map {
            match (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
                (Ok(n), Ok(v)) => out.push((n, v)),
                _ => {
                    ok = false;
                    cx.error(
                        cfg,
                        format!("bad header rule `{k}: {v}`"),
                        Some("header names are tokens; values are visible ASCII".into()),
                    );
                }
            }
        }
        out
    };
    let set = pairs(&c.set, cx);
    let add = pairs(&c.add, cx);
    let mut remove = Vec::new();
    for name in &c.remove {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) => remove.push(n),
            Err(_) => {
                ok = false;
                cx.error(cfg, format!("`{name}` is not a header name"), None);
            }
        }
    }
    let rules = HeaderRules { set, add, remove };
    (ok && !rules.is_empty()).then_some(rules)
}
