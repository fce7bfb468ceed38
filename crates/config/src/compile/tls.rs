//! `[tls]` and `tls = true` on listeners → the TLS configuration of the runtime:
//! certificates loaded and checked now (a missing file, a key that does not match, an
//! expired certificate are errors with the entry's position), indexed by their names, and
//! the plan for the names that get certificates automatically (`acme.rs`).
use super::Ctx;
use crate::model::{ConfigFile, Listen, TlsCfg};
use forecourt_proxy::runtime::{HostClientCerts, Tls, TlsListener};
use forecourt_tls::{
    server_config, CertSource, CertTable, ClientAuth, FileStamp, Handshakes, Policy, Resumption, SniResolver, Versions,
    DEFAULT_TICKET_KEY_ROTATION,
};
use http::HeaderName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// The runtime's TLS, or `None` when no listener terminates TLS.
pub fn compile(cx: &mut Ctx<'_>, model: &ConfigFile, listeners: &[SocketAddr]) -> Option<Tls> {
    let tls_listeners: Vec<(&Listen, SocketAddr)> = model
        .listen
        .iter()
        .zip(listeners.iter().copied())
        .filter(|(l, _)| {
            let tls = l.tls.as_ref().is_some_and(|t| *t.get_ref());
            if let Some(ca) = l.client_ca.as_ref().filter(|_| !tls) {
                cx.error(ca, "client_ca needs tls = true on this listener", None);
            }
            tls
        })
        .collect();
    if tls_listeners.is_empty() {
        if let Some(acme) = &model.acme {
            cx.error(acme, "[acme] gets certificates for TLS listeners, and no listener has tls = true", None);
        }
        return None;
    }
    let no_table = TlsCfg::default();
    let cfg = model.tls.as_ref().unwrap_or(&no_table);
    let policy = policy(cx, cfg);
    let handshakes = Handshakes { policy, versions: versions(cx, cfg, policy), resumption: resumption(cx, cfg) };
    let (table, sources, stamps) = certificates(cx, cfg)?;
    let plain_listener = model.listen.iter().any(|l| !l.tls.as_ref().is_some_and(|t| *t.get_ref()));
    let auto = super::acme::plan(cx, model, &table, plain_listener);
    if table.is_empty() && auto.names.is_empty() {
        let at = model.listen.iter().find_map(|l| l.tls.as_ref()).expect("a TLS listener");
        cx.error(
            at,
            "this listener has tls = true, but no certificate is configured or can be had automatically",
            Some(
                "add [[tls.certificates]] with cert = \"FILE.pem\" and key = \"FILE.key\", or an [acme] table \
                 for the routes' hosts"
                    .into(),
            ),
        );
        return None;
    }
    let certs = Arc::new(SniResolver::new(table, cx.state.tls.managed.clone()));
    let mut out = Vec::new();
    for (listen, addr) in tls_listeners {
        let (clients, client_cert_header) = client_auth(cx, listen)?;
        match server_config(&cx.state.tls, handshakes, certs.clone(), clients.as_ref()) {
            Ok(config) => out.push(TlsListener { addr, config, client_cert_header }),
            Err(e) => {
                cx.error(&listen.addr, e, None);
                return None;
            }
        }
    }
    let host_client_certs = host_client_certs(cx, cfg, handshakes, &certs)?;
    Some(Tls { listeners: out, host_client_certs: host_client_certs.into(), certs, sources, stamps, auto })
}

/// A listener's `client_ca`, `client_auth` and `client_cert_header`; `None` after an
/// error (reported).
fn client_auth(cx: &mut Ctx<'_>, l: &Listen) -> Option<(Option<ClientAuth>, Option<HeaderName>)> {
    let required = match l.client_auth.as_ref().map(|a| (a, a.get_ref().as_str())) {
        None | Some((_, "required")) => true,
        Some((_, "optional")) => false,
        Some((a, other)) => {
            cx.error(a, format!("unknown client_auth `{other}`"), Some("use \"required\" or \"optional\"".into()));
            return None;
        }
    };
    let header = match &l.client_cert_header {
        None => None,
        Some(h) => Some(header_name(cx, h)?),
    };
    let Some(ca) = &l.client_ca else {
        if let Some(at) = l.client_auth.as_ref().map(|a| a.span()).or(l.client_cert_header.as_ref().map(|h| h.span())) {
            cx.errors.push(cx.source.at(at, "client_auth and client_cert_header need client_ca", None));
            return None;
        }
        return Some((None, None));
    };
    match ClientAuth::from_file(&cx.file_path(ca.get_ref()), required) {
        Ok(auth) => Some((Some(auth), header)),
        Err(why) => {
            cx.error(ca, why, None);
            None
        }
    }
}

fn header_name(cx: &mut Ctx<'_>, h: &Spanned<String>) -> Option<HeaderName> {
    let name = HeaderName::from_bytes(h.get_ref().as_bytes()).ok();
    if name.is_none() {
        cx.error(h, format!("`{}` is not a header name", h.get_ref()), None);
    }
    name
}

/// `[[tls.client_certs]]`: a server configuration per group of hosts that asks for client
/// certificates; `None` after an error (reported).
fn host_client_certs(
    cx: &mut Ctx<'_>,
    cfg: &TlsCfg,
    handshakes: Handshakes,
    certs: &Arc<SniResolver>,
) -> Option<Vec<HostClientCerts>> {
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for entry in &cfg.client_certs {
        let e = entry.get_ref();
        let mut hosts = Vec::new();
        for h in &e.hosts {
            let host = h.get_ref().trim_end_matches('.').to_ascii_lowercase();
            if seen.contains(&host) {
                cx.error(h, format!("`{host}` is in two [[tls.client_certs]] entries"), None);
            }
            seen.push(host.clone());
            hosts.push(host);
        }
        if hosts.is_empty() {
            cx.error(entry, "[[tls.client_certs]] needs hosts", None);
        }
        let header = match &e.header {
            None => None,
            Some(h) => Some(header_name(cx, h)?),
        };
        let clients = match ClientAuth::from_file(&cx.file_path(e.ca.get_ref()), e.required) {
            Ok(clients) => clients,
            Err(why) => {
                cx.error(&e.ca, why, None);
                return None;
            }
        };
        match server_config(&cx.state.tls, handshakes, certs.clone(), Some(&clients)) {
            Ok(config) => out.push(HostClientCerts { hosts, config, client_cert_header: header }),
            Err(why) => cx.error(entry, why, None),
        }
    }
    Some(out)
}

fn policy(cx: &mut Ctx<'_>, cfg: &TlsCfg) -> Policy {
    match cfg.policy.as_ref().map(|p| (p, p.get_ref().as_str())) {
        None | Some((_, "intermediate")) => Policy::Intermediate,
        Some((_, "modern")) => Policy::Modern,
        Some((p, other)) => {
            cx.error(p, format!("unknown TLS policy `{other}`"), Some("use \"intermediate\" or \"modern\"".into()));
            Policy::Intermediate
        }
    }
}

/// `session_resumption`, `session_tickets` and `ticket_key_rotation`.
fn resumption(cx: &mut Ctx<'_>, cfg: &TlsCfg) -> Resumption {
    let tickets = cfg.session_tickets.as_ref().filter(|t| *t.get_ref());
    if let Some(rotation) = cfg.ticket_key_rotation.as_ref().filter(|_| tickets.is_none()) {
        cx.error(rotation, "ticket_key_rotation needs session_tickets = true", None);
    }
    if !cfg.session_resumption {
        if let Some(tickets) = tickets {
            cx.error(tickets, "session_tickets = true needs session_resumption, which is false", None);
        }
        return Resumption::Off;
    }
    if tickets.is_none() {
        return Resumption::Stored;
    }
    let rotation = cx.duration(&cfg.ticket_key_rotation, DEFAULT_TICKET_KEY_ROTATION);
    let (least, most) = (Duration::from_secs(1), Duration::from_secs(24 * 60 * 60));
    if let Some(at) = cfg.ticket_key_rotation.as_ref().filter(|_| !(least..=most).contains(&rotation)) {
        cx.error(
            at,
            "ticket_key_rotation must be between 1s and 24h",
            Some("a key opens tickets for two periods; Caddy rotates every 12h, rustls every 6h".into()),
        );
    }
    Resumption::Tickets { rotation: rotation.clamp(least, most) }
}

/// `protocols`: the versions offered, narrowing the policy's (nginx's `ssl_protocols`);
/// every version the policy allows when absent.
fn versions(cx: &mut Ctx<'_>, cfg: &TlsCfg, policy: Policy) -> Versions {
    let Some(list) = &cfg.protocols else { return Versions::ALL };
    if list.get_ref().is_empty() {
        cx.error(list, "protocols is empty", Some("name \"1.2\", \"1.3\" or both".into()));
        return Versions::ALL;
    }
    let mut versions = Versions { tls12: false, tls13: false };
    for p in list.get_ref() {
        // nginx's spelling (TLSv1.2) too.
        match p.get_ref().strip_prefix("TLSv").unwrap_or(p.get_ref()) {
            "1.2" if policy == Policy::Modern => cx.error(
                p,
                "policy \"modern\" offers TLS 1.3 only",
                Some("remove \"1.2\", or use policy = \"intermediate\"".into()),
            ),
            "1.2" => versions.tls12 = true,
            "1.3" => versions.tls13 = true,
            _ => cx.error(
                p,
                format!("unknown TLS protocol `{}`", p.get_ref()),
                Some("use \"1.2\" and/or \"1.3\" (TLS 1.0 and 1.1 are not offered: Mozilla's intermediate profile starts at 1.2)".into()),
            ),
        }
    }
    if !versions.tls12 && !versions.tls13 {
        return Versions::ALL; // every entry was refused above: one error each is enough
    }
    versions
}

/// Loads every `[[tls.certificates]]` entry; `None` after an error (reported).
fn certificates(cx: &mut Ctx<'_>, cfg: &TlsCfg) -> Option<(CertTable, Vec<CertSource>, Vec<FileStamp>)> {
    let mut table = CertTable::default();
    let mut sources = Vec::new();
    let mut stamps = Vec::new();
    let mut ok = true;
    for entry in &cfg.certificates {
        let c = entry.get_ref();
        let source = CertSource { cert: cx.file_path(&c.cert), key: cx.file_path(&c.key), default: c.default };
        stamps.extend(source.stamp());
        match source.load() {
            Ok(loaded) => table.add(&loaded, c.default),
            Err(why) => {
                cx.error(entry, why, None);
                ok = false;
            }
        }
        sources.push(source);
    }
    ok.then_some((table, sources, stamps))
}
