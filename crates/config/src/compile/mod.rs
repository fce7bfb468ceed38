//! Model → Runtime. Every check that fails adds a diagnostic; compilation goes on so that
//! one run reports every problem, and a runtime is returned only if there were none.
mod acme;
mod admission;
mod bans;
mod cache;
mod challenge;
mod compress;
mod filters;
mod front;
mod geoip;
mod limits;
mod lists;
mod redis;
mod routes;
mod split;
#[cfg(test)]
mod tests;
mod tls;
mod upstream_policies;
mod upstream_tls;
mod upstreams;
mod waf;

use crate::diagnostic::{Diagnostic, Source};
use crate::model::{ConfigFile, Global, Size};
use crate::units::{parse_duration, parse_size};
use forecourt_proxy::access_log::{AccessLog, LogFormat};
use forecourt_proxy::cidr::{Cidr, CidrList};
use forecourt_proxy::{ClientLimits, NonAsciiTargets, ProcessState, Runtime, Settings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// Collects diagnostics while compiling one file, and holds the process's state that the
/// snapshot is wired to.
pub(crate) struct Ctx<'a> {
    pub source: Source<'a>,
    pub errors: Vec<Diagnostic>,
    pub state: &'a ProcessState,
    /// The config will be served (`compile`: committed to `state`, and what it opens may
    /// make folders), not only inspected (`inspect`).
    pub serving: bool,
}

impl Ctx<'_> {
    pub fn error<T>(&mut self, at: &Spanned<T>, message: impl Into<String>, hint: Option<String>) {
        let d = self.source.at(at.span(), message, hint);
        self.errors.push(d);
    }

    pub fn duration(&mut self, v: &Option<Spanned<String>>, default: Duration) -> Duration {
        match v {
            None => default,
            Some(s) => self.duration_at(s.get_ref(), s).unwrap_or(default),
        }
    }

    /// `text` as a duration, or an error at `at` (a value that holds the text: a string
    /// that may also be a table).
    pub fn duration_at<T>(&mut self, text: &str, at: &Spanned<T>) -> Option<Duration> {
        parse_duration(text).map_err(|e| self.error(at, e, None)).ok()
    }

    /// A duration that must not be zero (a period, a window), else an error at it.
    pub fn positive_duration(&mut self, v: &Option<Spanned<String>>, default: Duration) -> Duration {
        let d = self.duration(v, default);
        if let (Some(at), true) = (v, d.is_zero()) {
            self.error(at, "must be longer than zero", None);
        }
        d
    }

    /// A file named in the config: relative paths are from the config file's folder.
    pub fn file_path(&self, path: &str) -> String {
        let base = std::path::Path::new(self.source.file).parent().unwrap_or(std::path::Path::new(""));
        base.join(path).to_string_lossy().into_owned()
    }

    /// A list of CIDRs (or addresses) under config key `what`; each bad one reported where
    /// it stands.
    pub fn cidrs(&mut self, entries: &[Spanned<String>], what: &str) -> CidrList {
        let hint = "write a CIDR such as \"10.0.0.0/8\" or an address";
        CidrList(entries.iter().filter_map(|entry| self.cidr(entry, what, hint)).collect())
    }

    /// One CIDR (or address) under config key `what`; a bad one reported where it stands,
    /// with `hint`.
    pub fn cidr(&mut self, entry: &Spanned<String>, what: &str, hint: &str) -> Option<Cidr> {
        entry
            .get_ref()
            .parse::<Cidr>()
            .map_err(|e| self.error(entry, format!("bad {what} entry: {e}"), Some(hint.into())))
            .ok()
    }

    /// A whole number within `range`, or `default` when absent (or wrong, and reported).
    pub fn number_in(&mut self, v: &Option<Spanned<i64>>, range: std::ops::RangeInclusive<i64>, default: i64) -> i64 {
        let Some(v) = v else { return default };
        if range.contains(v.get_ref()) {
            return *v.get_ref();
        }
        self.error(v, format!("must be between {} and {}", range.start(), range.end()), None);
        default
    }

    pub fn size(&mut self, v: &Option<Spanned<Size>>) -> Option<u64> {
        let s = v.as_ref()?;
        match parse_size(s.get_ref()) {
            Ok(n) => Some(n),
            Err(e) => {
                self.error(s, e, None);
                None
            }
        }
    }
}

/// Compiles the text of a config file named `file` (used in diagnostics). What must
/// outlive the snapshot (route counters, upstream servers' state, TLS sessions and
/// certificates) is taken from `state`, the process's, so that a reload keeps it, and a
/// config that compiled becomes the process's (its limits, lists, bans, challenges, cache
/// and WAF are committed to `state`, which starts their threads and reads and writes
/// `data_dir`). Its listen addresses are not tried (`compile_to_serve` tries them first).
pub fn compile(file: &str, text: &str, state: &ProcessState) -> Result<Runtime, Vec<Diagnostic>> {
    compile_as(file, text, state, Some(&|_, _| Ok(())))
}

/// Asked of each `[[listen]]` address and of the admin endpoint's, of a config that
/// compiled, before anything of it is committed: whether the process can listen there (at
/// startup each is tried; on a reload a new `[[listen]]` address is, one already served
/// passes, and the admin endpoint, which a reload does not move, passes). A refusal is an
/// error at that address, so that a reload that cannot take its listeners leaves the
/// running config's state as it was, and a start refused for a taken port has opened
/// nothing.
pub type CanListen<'a> = &'a dyn Fn(SocketAddr, Listening) -> Result<(), String>;

/// What an address asked of [`CanListen`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listening {
    /// A `[[listen]]` table's: requests.
    Requests,
    /// `[global] admin`: the admin endpoint.
    Admin,
}

/// `compile`, for the config the process is to serve: its listeners are asked of
/// `can_listen` before the commit.
pub fn compile_to_serve(
    file: &str,
    text: &str,
    state: &ProcessState,
    can_listen: CanListen<'_>,
) -> Result<Runtime, Vec<Diagnostic>> {
    compile_as(file, text, state, Some(can_listen))
}

/// Compiles as `compile` does, for a process that will not serve the config (`check`,
/// `explain`, `reload`): nothing is committed — no thread starts, nothing in `data_dir`
/// is written (a `check` run as another user must not leave files the server cannot
/// read).
pub fn inspect(file: &str, text: &str) -> Result<Runtime, Vec<Diagnostic>> {
    compile_as(file, text, &ProcessState::new(), None)
}

/// Compiles; `serving` (with what to ask of the listeners) commits a config that
/// compiled, `None` only inspects it.
fn compile_as(
    file: &str,
    text: &str,
    state: &ProcessState,
    serving: Option<CanListen<'_>>,
) -> Result<Runtime, Vec<Diagnostic>> {
    let source = Source { file, text };
    let model: ConfigFile = match toml::from_str(text) {
        Ok(m) => m,
        Err(e) => return Err(vec![source.toml_error(&e)]),
    };
    let mut cx = Ctx { source, errors: Vec::new(), state, serving: serving.is_some() };
    let mut settings = settings(&mut cx, &model.global);
    let listeners = listeners(&mut cx, &model);
    let tls = tls::compile(&mut cx, &model, &listeners);
    let admin = admin(&mut cx, &model, &listeners);
    let dns = upstreams::dns_settings(&mut cx, &model.global.dns);
    let upstreams = upstreams::compile(&mut cx, &model.upstream, &model.global, &dns);
    let geoip = geoip::compile(&mut cx, model.geoip.as_ref());
    let data_dir = data_dir(&cx, &model.global);
    let lists = lists::compile(&mut cx, &model.lists, geoip.as_ref(), &data_dir);
    settings.trusted_proxies = lists::trusted_proxies(&mut cx, &model.global.trusted_proxies, &lists);
    let redis = redis::compile(&mut cx, model.redis.as_ref());
    let bans = bans::compile(&mut cx, model.bans.as_ref(), &lists, redis.as_ref(), &data_dir);
    let admission = admission::compile(&mut cx, &model, &listeners, &lists, bans.as_ref());
    let proxy_protocol = proxy_protocol_listeners(&mut cx, &model, &listeners, &settings);
    let challenge = challenge::compile(&mut cx, &model, &lists, redis.as_ref(), &data_dir);
    let limits = limits::compile(&mut cx, &model.limits, &lists, redis.as_ref(), challenge.as_ref().map(|c| &c.gate));
    let global_limits = limits::filter(&mut cx, &model.global.limits.apply, &limits, "*");
    let front_filters = front::Edge {
        bans: bans::filter(bans.as_ref()),
        geoip: geoip::filter(geoip.as_ref()),
        limits: global_limits,
        challenge: challenge::front_filter(challenge.as_ref()),
    };
    let front = front::chain(&mut cx, &settings, tls.as_ref(), front_filters);
    let cache = cache::shared(&mut cx, model.cache.as_ref());
    let waf = waf::compile(&mut cx, &model.waf, &lists);
    let shared = filters::Shared {
        cache,
        compress: model.compress.as_ref(),
        hide: filters::hide_headers(&mut cx, &model.global),
        // Where `https_redirect` sends clients: the first TLS listener's port, else 443.
        https_port: tls.as_ref().and_then(|t| t.listeners.first()).map_or(443, |l| l.addr.port()),
        client_cert_hosts: tls.as_ref().map(|t| t.host_client_certs.clone()),
        max_body: settings.client.max_body,
        request_buffer: cx
            .size(&model.global.limits.request_buffer)
            .unwrap_or(forecourt_proxy::forward::DEFAULT_REQUEST_BUFFER),
        limits,
        lists,
        challenge,
        country_header: geoip.as_ref().and_then(|g| g.country_header.clone()),
        waf,
        global_waf: model.global.waf.as_ref(),
    };
    let router = routes::compile(&mut cx, &model.route, &upstreams, &shared);
    if let (Some(can_listen), true) = (serving, cx.errors.is_empty()) {
        try_listening(&mut cx, &model, &listeners, admin, can_listen);
    }
    if !cx.errors.is_empty() {
        return Err(cx.errors);
    }
    if cx.serving {
        redis::commit(&cx, redis.as_ref());
        cache::commit(&cx, &shared.cache);
        limits::commit(&cx, &shared.limits);
        lists::commit(&cx, &shared.lists);
        bans::commit(&cx, bans.as_ref());
        challenge::commit(&cx, shared.challenge.as_ref());
        waf::commit(&cx, &shared.waf);
    }
    Ok(Runtime {
        front,
        router,
        settings,
        proxy_protocol,
        listeners,
        admission,
        upstreams: upstreams.groups,
        tls,
        dns,
        admin,
        workers: model.global.workers,
        pid_file: model.global.pid_file.as_ref().map(|p| cx.file_path(p)),
    })
}

/// `[global] data_dir`, else `$XDG_DATA_HOME/forecourt`, `~/.local/share/forecourt`, or
/// `/var/lib/forecourt` (as Caddy's data directory).
fn data_dir(cx: &Ctx<'_>, g: &Global) -> PathBuf {
    if let Some(path) = &g.data_dir {
        return PathBuf::from(cx.file_path(path.get_ref()));
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("XDG_DATA_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("/var/lib"))
        .join("forecourt")
}

/// `min_body_rate` ("256/s", "1k/s", "off") with its grace.
fn min_body_rate(cx: &mut Ctx<'_>, l: &crate::model::Limits) -> Option<forecourt_proxy::MinRate> {
    let default = forecourt_proxy::MinRate::DEFAULT;
    let grace = cx.duration(&l.min_body_rate_grace, default.grace);
    let Some(rate) = &l.min_body_rate else { return Some(forecourt_proxy::MinRate { grace, ..default }) };
    let text = rate.get_ref().trim();
    if text == "off" {
        return None;
    }
    match text.strip_suffix("/s").map(|n| parse_size(&Size::Text(n.to_owned()))) {
        Some(Ok(n)) if n > 0 => Some(forecourt_proxy::MinRate { bytes_per_sec: n, grace }),
        _ => {
            cx.error(
                rate,
                format!("bad min_body_rate `{text}`"),
                Some("write bytes a second, \"256/s\" or \"1k/s\", or \"off\"".into()),
            );
            None
        }
    }
}

/// `non_ascii_targets`: "refuse" (the default, as RFC 9112 §3.2 advises) or "escape".
fn non_ascii_targets(cx: &mut Ctx<'_>, l: &crate::model::Limits) -> NonAsciiTargets {
    match l.non_ascii_targets.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "refuse")) => NonAsciiTargets::Refuse,
        Some((_, "escape")) => NonAsciiTargets::Escape,
        Some((s, other)) => {
            let hint = "use \"refuse\" (400) or \"escape\" (percent-encoded and served, as nginx serves them)";
            cx.error(s, format!("unknown non_ascii_targets `{other}`"), Some(hint.into()));
            NonAsciiTargets::Refuse
        }
    }
}

fn settings(cx: &mut Ctx<'_>, g: &Global) -> Settings {
    let d = ClientLimits::default();
    let t = &g.timeouts;
    let l = &g.limits;
    let header_bytes = cx.size(&l.max_header_bytes).map(|n| n as usize).unwrap_or(d.max_header_bytes);
    if let Some(s) = &l.max_header_bytes {
        if header_bytes < 1024 {
            cx.error(s, "max_header_bytes must be at least 1k", None);
        }
    }
    let max_headers = l.max_headers.as_ref().map_or(d.max_headers, |n| *n.get_ref());
    if let Some(n) = &l.max_headers {
        if !(1..=forecourt_proxy::h1::MAX_HEADERS).contains(n.get_ref()) {
            let most = forecourt_proxy::h1::MAX_HEADERS;
            cx.error(n, format!("max_headers must be between 1 and {most}"), None);
        }
    }
    let client = ClientLimits {
        header_timeout: cx.duration(&t.client_header, d.header_timeout),
        body_timeout: cx.duration(&t.client_body, d.body_timeout),
        send_timeout: cx.duration(&t.client_send, d.send_timeout),
        keepalive_timeout: cx.duration(&t.keepalive, d.keepalive_timeout),
        max_header_bytes: header_bytes,
        max_headers,
        max_uri_bytes: cx.size(&l.max_uri_bytes).map(|n| n as usize).unwrap_or(d.max_uri_bytes),
        max_body: cx.size(&l.max_body),
        min_body_rate: min_body_rate(cx, l),
        non_ascii_targets: non_ascii_targets(cx, l),
    };
    let format = match g.access_log_format.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "json")) => LogFormat::Json,
        Some((_, "combined")) => LogFormat::Combined,
        Some((s, other)) => {
            cx.error(s, format!("unknown access_log_format `{other}`"), Some("use \"json\" or \"combined\"".into()));
            LogFormat::Json
        }
    };
    let access_log = match &g.access_log {
        Some(t) if t.get_ref() == "off" => None,
        Some(t) if t.get_ref() != "stdout" => match AccessLog::open(&cx.file_path(t.get_ref()), format) {
            Ok(log) => Some(Arc::new(log)),
            Err(e) => {
                cx.error(t, format!("cannot open access_log `{}`: {e}", t.get_ref()), None);
                None
            }
        },
        _ => Some(Arc::new(AccessLog::open("stdout", format).expect("stdout opens"))),
    };
    Settings {
        client,
        // With the lists it may name: `lists::trusted_proxies`, once they are compiled.
        trusted_proxies: Default::default(),
        access_log,
        shutdown_timeout: cx.duration(&g.shutdown_timeout, Duration::from_secs(30)),
    }
}

/// `":8080"` means every address; `"localhost:8080"` is 127.0.0.1.
pub(crate) fn parse_listen_addr(s: &str) -> Option<SocketAddr> {
    if let Some(port) = s.strip_prefix(':') {
        return format!("0.0.0.0:{port}").parse().ok();
    }
    if let Some(port) = s.strip_prefix("localhost:") {
        return format!("127.0.0.1:{port}").parse().ok();
    }
    s.parse().ok()
}

fn listeners(cx: &mut Ctx<'_>, model: &ConfigFile) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    for l in &model.listen {
        match parse_listen_addr(l.addr.get_ref()) {
            None => cx.error(
                &l.addr,
                format!("bad listen address `{}`", l.addr.get_ref()),
                Some("write IP:PORT, e.g. \"0.0.0.0:80\" or \":8080\"".into()),
            ),
            Some(a) if out.contains(&a) => cx.error(
                &l.addr,
                format!("duplicate listen address `{a}`"),
                Some("each [[listen]] addr may appear once".into()),
            ),
            Some(a) => out.push(a),
        }
    }
    if model.listen.is_empty() {
        cx.errors.push(cx.source.at(
            0..0,
            "nothing to listen on",
            Some("add a [[listen]] table with addr = \"0.0.0.0:80\"".into()),
        ));
    }
    out
}

/// The listeners with `proxy_protocol = true` (which needs `trusted_proxies`: only they
/// may send the header).
fn proxy_protocol_listeners(
    cx: &mut Ctx<'_>,
    model: &ConfigFile,
    listeners: &[SocketAddr],
    settings: &Settings,
) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for (l, addr) in model.listen.iter().zip(listeners) {
        if let Some(on) = l.proxy_protocol.as_ref().filter(|on| *on.get_ref()) {
            if settings.trusted_proxies.is_empty() {
                let hint = "list the balancers that send it in [global] trusted_proxies";
                cx.error(on, "proxy_protocol needs trusted_proxies", Some(hint.into()));
            }
            out.push(*addr);
        }
    }
    out
}

/// Asks `can_listen` of each `[[listen]]` address and of the admin endpoint's, so that a
/// taken port refuses the config before anything of it is committed, with the error at the
/// address (the admin endpoint's default, which no line names, at the file's start).
fn try_listening(
    cx: &mut Ctx<'_>,
    model: &ConfigFile,
    listeners: &[SocketAddr],
    admin: Option<SocketAddr>,
    can_listen: CanListen<'_>,
) {
    // Every address parsed (no error so far), so the two lists are in step.
    for (l, addr) in model.listen.iter().zip(listeners) {
        if let Err(why) = can_listen(*addr, Listening::Requests) {
            cx.error(&l.addr, format!("cannot listen on {addr}: {why}"), None);
        }
    }
    let Some(addr) = admin else { return };
    if let Err(why) = can_listen(addr, Listening::Admin) {
        let message = format!("cannot listen on admin address {addr}: {why}");
        let hint = Some("set `[global] admin` to a free address, or \"off\"".to_string());
        match &model.global.admin {
            Some(at) => cx.error(at, message, hint),
            None => cx.errors.push(cx.source.at(0..0, format!("{message} (the default)"), hint)),
        }
    }
}

/// The admin endpoint's address: `[global] admin`, 127.0.0.1:9901 when unset, none for
/// "off". It may not take a `[[listen]]` table's port (both are bound).
fn admin(cx: &mut Ctx<'_>, model: &ConfigFile, listeners: &[SocketAddr]) -> Option<SocketAddr> {
    let addr = match &model.global.admin {
        None => SocketAddr::from(([127, 0, 0, 1], 9901)),
        Some(s) if s.get_ref() == "off" => return None,
        Some(s) => match parse_listen_addr(s.get_ref()) {
            Some(a) => a,
            None => {
                cx.error(s, format!("bad admin address `{}`", s.get_ref()), Some("write IP:PORT or \"off\"".into()));
                return None;
            }
        },
    };
    // A socket on all of a family's addresses (0.0.0.0) takes the port for each of them;
    // one on all of IPv6's ([::]) takes IPv4's too, as Linux binds it unless
    // net.ipv6.bindv6only is set (its default is not).
    let takes = |all: SocketAddr, other: SocketAddr| all.ip().is_unspecified() && (all.is_ipv6() || other.is_ipv4());
    let shares_port =
        |l: SocketAddr| l.port() == addr.port() && (l.ip() == addr.ip() || takes(l, addr) || takes(addr, l));
    if let Some(&taken) = listeners.iter().find(|l| shares_port(**l)) {
        let message = format!("the admin endpoint's {addr} is [[listen]]'s {taken} too");
        let hint = Some("set `[global] admin` to another address, or \"off\"".to_string());
        // The listener's own line when `admin` is the default, which no line names.
        let listener = model.listen.iter().find(|l| parse_listen_addr(l.addr.get_ref()) == Some(taken));
        match (&model.global.admin, listener) {
            (Some(at), _) => cx.error(at, message, hint),
            (None, Some(l)) => cx.error(&l.addr, message, hint),
            (None, None) => {}
        }
    }
    Some(addr)
}
