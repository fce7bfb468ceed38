//! `[acme]`, `[tls] storage` and `issuer`, and the routes' hosts → which names get
//! certificates automatically, from which issuer, kept where. A name that a certificate
//! file already covers is left to the file.
use super::Ctx;
use crate::model::{AcmeCfg, ConfigFile};
use base64::Engine;
use forecourt_tls::auto::{is_local_name, AcmeSettings, AutoName, AutoPlan, ChallengeKind, Issuer, LETS_ENCRYPT};
use forecourt_tls::CertTable;
use std::path::PathBuf;
use std::sync::Arc;
use toml::Spanned;

const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// The plan for a config with TLS listeners; `plain_listener`: some listener speaks plain
/// HTTP (and can answer HTTP-01).
pub fn plan(cx: &mut Ctx<'_>, model: &ConfigFile, files: &CertTable, plain_listener: bool) -> AutoPlan {
    let tls = model.tls.as_ref();
    let internal_only = match tls.and_then(|t| t.issuer.as_ref()).map(|i| (i, i.get_ref().as_str())) {
        None | Some((_, "acme")) => false,
        Some((_, "internal")) => true,
        Some((at, other)) => {
            cx.error(at, format!("unknown issuer `{other}`"), Some("use \"acme\" or \"internal\"".into()));
            false
        }
    };
    let acme = model.acme.as_ref().and_then(|a| settings(cx, a.get_ref(), plain_listener)).map(Arc::new);
    let mut names = Vec::new();
    for name in wanted_names(cx, model) {
        if files.names(&name) || names.iter().any(|n: &AutoName| n.name == name) {
            continue;
        }
        let issuer = match &acme {
            _ if internal_only || is_local_name(&name) => Issuer::Internal,
            Some(acme) => Issuer::Acme(acme.clone()),
            // A public name with neither a file nor [acme]: the default certificate, if any.
            None => continue,
        };
        names.push(AutoName { name, issuer });
    }
    AutoPlan { storage: storage(cx, tls.and_then(|t| t.storage.as_ref()), &model.global), names }
}

/// The routes' exact hosts and `[acme] names`, lower case, less `[acme] exclude`.
fn wanted_names(cx: &mut Ctx<'_>, model: &ConfigFile) -> Vec<String> {
    let acme = model.acme.as_ref().map(Spanned::get_ref);
    let exclude: Vec<String> = acme.map_or(Vec::new(), |a| a.exclude.iter().map(|n| normal(n.get_ref())).collect());
    let mut wanted = Vec::new();
    for host in model.route.iter().flat_map(|r| &r.hosts) {
        let name = normal(host.get_ref());
        // Wildcard hosts need a certificate file (or DNS-01); a host with a port is no name;
        // an IP address is never sent as SNI, so a certificate could not be chosen for it.
        if !name.contains(['*', ':']) && valid_name(&name) && name.parse::<std::net::IpAddr>().is_err() {
            wanted.push(name);
        }
    }
    for at in acme.map_or(&[][..], |a| &a.names[..]) {
        let name = normal(at.get_ref());
        if name.starts_with("*.") {
            cx.error(
                at,
                format!("`{name}`: a wildcard certificate can only be validated by the DNS-01 challenge, and no DNS provider is configured"),
                Some("list each name instead, or serve the wildcard from a [[tls.certificates]] file".into()),
            );
        } else if !valid_name(&name) {
            cx.error(at, format!("`{name}` is not a DNS name"), None);
        } else {
            wanted.push(name);
        }
    }
    wanted.retain(|n| !exclude.contains(n));
    wanted
}

fn normal(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[acme]` → the issuer's settings; `None` after an error (reported).
fn settings(cx: &mut Ctx<'_>, acme: &AcmeCfg, plain_listener: bool) -> Option<AcmeSettings> {
    let errors = cx.errors.len();
    let directory = match acme.directory.as_ref().map(|d| (d, d.get_ref().as_str())) {
        None | Some((_, "letsencrypt")) => LETS_ENCRYPT.to_string(),
        Some((_, "letsencrypt-staging")) => LETS_ENCRYPT_STAGING.to_string(),
        Some((at, url)) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.parse::<http::Uri>().is_err() {
                cx.error(
                    at,
                    format!("`{url}` is not a directory URL"),
                    Some("e.g. \"https://localhost:14000/dir\", or \"letsencrypt-staging\"".into()),
                );
            }
            url.to_string()
        }
    };
    if let Some(email) = acme.email.as_ref().filter(|e| !e.get_ref().contains('@')) {
        cx.error(email, format!("`{}` is not an email address", email.get_ref()), None);
    }
    let ca_bundle = acme.ca_bundle.as_ref().map(|at| {
        let path = cx.file_path(at.get_ref());
        if let Err(why) = forecourt_tls::read_roots(&path) {
            cx.error(at, why, None);
        }
        path
    });
    let eab = match (&acme.eab_kid, &acme.eab_hmac_key) {
        (None, None) => None,
        (Some(kid), Some(key)) => {
            let text = key.get_ref().trim_end_matches('=');
            match base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text) {
                Ok(bytes) if !bytes.is_empty() => Some((kid.get_ref().clone(), bytes)),
                _ => {
                    cx.error(key, "eab_hmac_key is not base64url", Some("paste the HMAC key as the CA gave it".into()));
                    None
                }
            }
        }
        (Some(at), None) | (None, Some(at)) => {
            cx.error(at, "external account binding needs both eab_kid and eab_hmac_key", None);
            None
        }
    };
    let challenges = challenges(cx, acme.challenges.as_ref(), plain_listener);
    (cx.errors.len() == errors).then(|| AcmeSettings {
        directory,
        email: acme.email.as_ref().map(|e| e.get_ref().clone()),
        ca_bundle,
        eab,
        challenges,
    })
}

fn challenges(
    cx: &mut Ctx<'_>,
    list: Option<&Spanned<Vec<Spanned<String>>>>,
    plain_listener: bool,
) -> Vec<ChallengeKind> {
    let Some(list) = list else {
        // HTTP-01 first where a plain listener can answer it (it works behind TLS-terminating
        // load balancers), TLS-ALPN-01 everywhere.
        return [ChallengeKind::Http01, ChallengeKind::TlsAlpn01]
            .into_iter()
            .filter(|k| plain_listener || *k != ChallengeKind::Http01)
            .collect();
    };
    let mut kinds = Vec::new();
    for at in list.get_ref() {
        match at.get_ref().as_str() {
            "http-01" if !plain_listener => cx.error(
                at,
                "http-01 needs a listener without tls (port 80, where the CA asks)",
                Some("add [[listen]] addr = \"0.0.0.0:80\", or use tls-alpn-01".into()),
            ),
            "http-01" => kinds.push(ChallengeKind::Http01),
            "tls-alpn-01" => kinds.push(ChallengeKind::TlsAlpn01),
            "dns-01" => cx.error(
                at,
                "dns-01 needs a DNS provider, and none is configured",
                Some("use \"http-01\" or \"tls-alpn-01\"".into()),
            ),
            other => {
                cx.error(at, format!("unknown challenge `{other}`"), Some("use \"http-01\" or \"tls-alpn-01\"".into()))
            }
        }
    }
    if kinds.is_empty() && list.get_ref().is_empty() {
        cx.error(list, "no challenge to answer", Some("use \"http-01\" and/or \"tls-alpn-01\"".into()));
    }
    kinds
}

/// `[tls] storage`, else `[global] data_dir` (the same folder by default).
fn storage(cx: &Ctx<'_>, configured: Option<&Spanned<String>>, global: &crate::model::Global) -> PathBuf {
    match configured {
        Some(path) => PathBuf::from(cx.file_path(path.get_ref())),
        None => super::data_dir(cx, global),
    }
}
