//! A route's chain: its built-in filters, in the order `docs/config.md` gives. The
//! header rules come first, so that they shape every answer of the route (the upstream's
//! and the policies' alike); then the policies that may answer; the mirror last, so that
//! it copies the request as edited.
use super::upstreams::UpstreamTable;
use super::Ctx;
use crate::model::{Global, HeaderRulesCfg, MirrorCfg, RouteCfg};
use forecourt_proxy::action::Action;
use forecourt_proxy::filter::{Chain, Filter};
use forecourt_proxy::filters::{
    ClientCertificate, HeaderRules, HideResponseHeaders, Hsts, HttpsRedirect, MaxBody, Mirror, Noop, RequestHeaders,
    ResponseHeaders, StripPrefix,
};
use forecourt_proxy::runtime::HostClientCerts;
use forecourt_upstream::Protocol;
use http::header::{HeaderName, HeaderValue};
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

/// What every route's chain is built from, beside the route's own table.
pub struct Shared<'m> {
    /// `[cache]` and the store.
    pub cache: super::cache::CacheShared,
    /// `[compress]`: every route's compression defaults.
    pub compress: Option<&'m Spanned<crate::model::CompressCfg>>,
    /// `global.hide_headers`.
    pub hide: Vec<HeaderName>,
    /// Where `https_redirect` sends clients.
    pub https_port: u16,
    /// Hosts that require client certificates (`[[tls.client_certs]]`), if any.
    pub client_cert_hosts: Option<Arc<[HostClientCerts]>>,
    /// `global.limits.max_body`, for routes that set none.
    pub max_body: Option<u64>,
    /// `global.limits.request_buffer`, for forwarding routes that set none.
    pub request_buffer: u64,
    /// `[limits.NAME]`, for the routes' `limits`.
    pub limits: super::limits::LimitTable,
    /// `[lists.NAME]`, for the routes' `allow` / `deny`.
    pub lists: super::lists::ListTable,
    /// `[challenge]`, for the routes' `challenge = true`.
    pub challenge: Option<super::challenge::ChallengeSetup>,
    /// `[geoip]`'s country header, for the routes' `countries` (`None`: no `[geoip]`, or
    /// no country header).
    pub country_header: Option<HeaderName>,
    /// `[waf.NAME]`, for the routes' `waf`.
    pub waf: super::waf::WafTable,
    /// `[global] waf`: the policy of routes that name none.
    pub global_waf: Option<&'m Spanned<String>>,
}

/// The chain of route `name`, whose action is `action`.
pub fn route_chain(
    cx: &mut Ctx<'_>,
    r: &RouteCfg,
    name: &str,
    action: &Action,
    upstreams: &UpstreamTable,
    shared: &Shared<'_>,
) -> Chain {
    let forwards = matches!(action, Action::Forward(_));
    let mut chain: Vec<Box<dyn Filter>> = Vec::new();
    if let Some(p) = &r.strip_prefix {
        if p.get_ref().starts_with('/') {
            chain.push(Box::new(StripPrefix(p.get_ref().clone())));
        } else {
            cx.error(p, "strip_prefix must start with `/`", None);
        }
    }
    if let Some(rules) = r.request_headers.as_ref().and_then(|rules| header_rules(cx, rules)) {
        chain.push(Box::new(RequestHeaders(rules)));
    }
    let response_rules = r.response_headers.as_ref().and_then(|rules| header_rules(cx, rules));
    // What the route's own response_headers writes is the route's word: not hidden.
    let hide: Vec<HeaderName> =
        shared.hide.iter().filter(|n| !response_rules.as_ref().is_some_and(|rules| rules.writes(n))).cloned().collect();
    if forwards && !hide.is_empty() {
        chain.push(Box::new(HideResponseHeaders(hide)));
    }
    if let Some(rules) = response_rules {
        chain.push(Box::new(ResponseHeaders(rules)));
    }
    if let Some(value) = r.hsts.as_ref().and_then(|v| hsts(cx, v)) {
        chain.push(Box::new(Hsts(value)));
    }
    // Address lists, then rate limits, then the challenge, before every policy that may
    // answer, so that a flood costs no more.
    chain.extend(super::lists::filter(cx, &r.allow, &r.deny, &shared.lists).map(|f| Box::new(f) as Box<dyn Filter>));
    chain.extend(super::limits::filter(cx, &r.limits, &shared.limits, name).map(|f| Box::new(f) as Box<dyn Filter>));
    let challenge = super::challenge::route_filter(r.challenge.as_ref(), shared.challenge.as_ref());
    chain.extend(challenge.map(|f| Box::new(f) as Box<dyn Filter>));
    if r.https_redirect.as_ref().is_some_and(|on| *on.get_ref()) {
        chain.push(Box::new(HttpsRedirect { port: shared.https_port }));
    }
    if let Some(hosts) = shared.client_cert_hosts.as_ref().filter(|h| !h.is_empty()) {
        chain.push(Box::new(ClientCertificate { hosts: hosts.clone() }));
    }
    if let Some(max) = cx.size(&r.max_body).or(shared.max_body) {
        chain.push(Box::new(MaxBody { max }));
    }
    // The WAF after the cheap refusals, before the cache: a hit is judged as a miss is.
    let waf = super::waf::route_filter(cx, r, shared.global_waf, &shared.waf);
    chain.extend(waf.map(|f| Box::new(f) as Box<dyn Filter>));
    // A measuring aid; a count past any chain worth timing would only take the memory.
    for _ in 0..cx.number_in(&r.noop_filters, 0..=1000, 0) {
        chain.push(Box::new(Noop));
    }
    if let Some(c) = &r.cache {
        match forwards {
            true => {
                chain.extend(super::cache::filter(cx, c, name, &shared.cache).map(|f| Box::new(f) as Box<dyn Filter>))
            }
            false => cx.error(
                c,
                format!("route `{name}` caches but does not forward"),
                Some("cache goes with upstream or split".into()),
            ),
        }
    }
    // After the cache: on the way back it compresses first, so the cache stores the coded
    // variant and a hit is not compressed again.
    if let Some(c) = &r.compress {
        chain.extend(super::compress::filter(cx, c, shared.compress).map(|f| Box::new(f) as Box<dyn Filter>));
    }
    if let Some(m) = r.mirror.as_ref().and_then(|m| mirror(cx, m, name, upstreams, action)) {
        chain.push(Box::new(m));
    }
    Chain::new(chain)
}

/// The response headers every forwarding route hides (`global.hide_headers`).
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

/// `mirror = { upstream = "shadow", percent = 10 }`, on a route that forwards.
fn mirror(
    cx: &mut Ctx<'_>,
    m: &Spanned<MirrorCfg>,
    route: &str,
    upstreams: &UpstreamTable,
    action: &Action,
) -> Option<Mirror> {
    let Action::Forward(forward) = action else {
        cx.error(
            m,
            format!("route `{route}` mirrors but does not forward"),
            Some("mirror goes with upstream or split".into()),
        );
        return None;
    };
    let cfg = m.get_ref();
    let group = upstreams.named(cx, &cfg.upstream, route)?;
    // Copies are made of the request as the real upstream gets it, for HTTP/1.1.
    let real = forward.groups().into_iter().map(|g| &**g);
    if let Some(other) = real.chain([&*group]).find(|g| g.protocol != Protocol::Http1 || g.tls().is_some()) {
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
    Some(Mirror::new(group, percent, forward.replay.max_body))
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
