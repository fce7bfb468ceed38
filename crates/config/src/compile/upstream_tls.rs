//! The `tls_*` keys of `[upstream.NAME]`, for `https://` servers: the client configuration
//! (roots, SNI name, client certificate, ALPN) built now, so a missing CA file or a bad
//! key is an error with its position.
use super::Ctx;
use crate::model::UpstreamCfg;
use forecourt_upstream::tls::{TlsOptions, UpstreamTls};
use forecourt_upstream::{Protocol, ServerSpec};
use std::sync::Arc;

/// `Some(None)`: plain servers; `Some(Some(tls))`: https; `None` after an error.
pub fn compile(
    cx: &mut Ctx<'_>,
    name: &str,
    u: &UpstreamCfg,
    https: bool,
    protocol: Protocol,
    servers: &[ServerSpec],
) -> Option<Option<Arc<UpstreamTls>>> {
    let keys = [&u.tls_ca, &u.tls_server_name, &u.tls_client_cert, &u.tls_client_key];
    if !https {
        let set = keys.iter().find_map(|k| k.as_ref().map(|v| v.span()));
        let set = set.or(u.tls_insecure_skip_verify.as_ref().map(|v| v.span()));
        if let Some(at) = set {
            let msg = format!("tls_* keys in upstream `{name}` need https:// servers");
            cx.errors.push(cx.source.at(at, msg, None));
            return None;
        }
        return Some(None);
    }
    let http_check = u.health.as_ref().filter(|h| h.get_ref().kind.as_ref().is_none_or(|k| k.get_ref() != "tcp"));
    if let Some(health) = http_check.filter(|_| protocol == Protocol::H2c) {
        // The probe speaks HTTP/1.1, and this group's TLS offers only h2 by ALPN.
        let hint = "use type = \"tcp\" under [upstream.NAME.health] for protocol = \"h2\" over TLS";
        cx.error(
            health,
            format!("HTTP health checks over TLS with protocol = \"h2\" are not supported yet (upstream `{name}`)"),
            Some(hint.into()),
        );
        return None;
    }
    let path = |v: &Option<toml::Spanned<String>>| v.as_ref().map(|p| cx.file_path(p.get_ref()));
    let client_cert = match (path(&u.tls_client_cert), path(&u.tls_client_key)) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => {
            let at = u.tls_client_cert.as_ref().or(u.tls_client_key.as_ref()).expect("one is set");
            cx.error(at, "tls_client_cert and tls_client_key go together", None);
            return None;
        }
    };
    let insecure = u.tls_insecure_skip_verify.as_ref().is_some_and(|v| *v.get_ref());
    let options = TlsOptions {
        ca: path(&u.tls_ca),
        server_name: u.tls_server_name.as_ref().map(|n| n.get_ref().clone()),
        client_cert,
        insecure_skip_verify: insecure,
    };
    let at = u.tls_ca.as_ref().or(u.tls_client_cert.as_ref()).or(u.tls_server_name.as_ref());
    let report = |cx: &mut Ctx<'_>, why: String| match at {
        Some(at) => cx.error(at, format!("upstream `{name}`: {why}"), None),
        None => cx.error(&u.servers, format!("upstream `{name}`: {why}"), None),
    };
    let tls = match UpstreamTls::new(name, &options, protocol == Protocol::H2c) {
        Ok(tls) => tls,
        Err(why) => {
            report(cx, why);
            return None;
        }
    };
    for spec in servers {
        if let Err(why) = tls.name_for(&spec.host()) {
            report(cx, format!("server `{}`: {why}", spec.label));
            return None;
        }
    }
    Some(Some(Arc::new(tls)))
}
