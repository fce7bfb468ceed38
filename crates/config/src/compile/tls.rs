//! `[tls]` and `tls = true` on listeners → the TLS configuration of the runtime:
//! certificates loaded and checked now (a missing file, a key that does not match, an
//! expired certificate are errors with the entry's position), indexed by their names.
use super::Ctx;
use crate::model::{ConfigFile, TlsCfg};
use forecourt_proxy::runtime::Tls;
use forecourt_tls::{server_config, CertSource, CertTable, FileStamp, Policy, SniResolver};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The runtime's TLS, or `None` when no listener terminates TLS.
pub fn compile(cx: &mut Ctx<'_>, model: &ConfigFile, listeners: &[SocketAddr]) -> Option<Tls> {
    let tls_listeners: Vec<SocketAddr> = model
        .listen
        .iter()
        .zip(listeners)
        .filter(|(l, _)| l.tls.as_ref().is_some_and(|t| *t.get_ref()))
        .map(|(_, addr)| *addr)
        .collect();
    let cfg = match (&model.tls, tls_listeners.is_empty()) {
        (_, true) => return None,
        (Some(cfg), false) => cfg,
        (None, false) => {
            let at = model.listen.iter().find_map(|l| l.tls.as_ref()).expect("a TLS listener");
            cx.error(
                at,
                "this listener has tls = true, but there is no [tls] table with certificates",
                Some("add [[tls.certificates]] with cert = \"FILE.pem\" and key = \"FILE.key\"".into()),
            );
            return None;
        }
    };
    let policy = policy(cx, cfg);
    let (table, sources, stamps) = certificates(cx, cfg)?;
    let certs = Arc::new(SniResolver::new(table));
    match server_config(policy, certs.clone()) {
        Ok(config) => Some(Tls { config, listeners: tls_listeners, certs, sources, stamps }),
        Err(e) => {
            cx.errors.push(cx.source.at(0..0, e, None));
            None
        }
    }
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

/// Loads every `[[tls.certificates]]` entry; `None` after an error (reported).
fn certificates(cx: &mut Ctx<'_>, cfg: &TlsCfg) -> Option<(CertTable, Vec<CertSource>, Vec<FileStamp>)> {
    if cfg.certificates.is_empty() {
        cx.errors.push(cx.source.at(
            0..0,
            "TLS listeners need certificates",
            Some("add [[tls.certificates]] with cert = \"FILE.pem\" and key = \"FILE.key\"".into()),
        ));
        return None;
    }
    let base = Path::new(cx.source.file).parent().unwrap_or(Path::new(""));
    let mut table = CertTable::default();
    let mut sources = Vec::new();
    let mut stamps = Vec::new();
    let mut ok = true;
    for entry in &cfg.certificates {
        let c = entry.get_ref();
        let source =
            CertSource { cert: relative_to(base, &c.cert), key: relative_to(base, &c.key), default: c.default };
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

/// A path from the config, relative to the config file's folder unless absolute.
pub fn relative_to(base: &Path, path: &str) -> String {
    base.join(path).to_string_lossy().into_owned()
}
