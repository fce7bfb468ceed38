//! `forecourt proxy --from ADDR --to URL...`: the zero-config proxy is an ordinary config,
//! written here and compiled like any file.
use crate::cli::ProxyArgs;
use std::fmt::Write as _;

pub fn config(args: &ProxyArgs) -> Result<String, String> {
    let ProxyArgs {
        from,
        to,
        workers,
        access_log,
        admin,
        cert,
        key,
        no_session_resumption,
        session_tickets,
        tls_protocols,
        cache,
        compress,
        noop_filters,
    } = args;
    let mut servers = Vec::new();
    for url in to {
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!("--to {url}: only http:// upstreams are supported (not {scheme}://)"))
            }
            None => url.as_str(),
        };
        let authority = rest.split('/').next().unwrap_or("");
        if authority.is_empty() {
            return Err(format!("--to {url}: no host:port"));
        }
        let authority = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
        servers.push(format!("{authority:?}"));
    }
    let mut out = String::new();
    let _ = writeln!(out, "[global]\nworkers = {workers}\naccess_log = {access_log:?}\nadmin = {admin:?}\n");
    let _ = writeln!(out, "[[listen]]\naddr = {from:?}\ntls = {}\n", cert.is_some());
    if let (Some(cert), Some(key)) = (cert, key) {
        let _ = writeln!(out, "[tls]\nsession_resumption = {}", !no_session_resumption);
        let _ = writeln!(out, "session_tickets = {session_tickets}");
        if !tls_protocols.is_empty() {
            let _ = writeln!(out, "protocols = {tls_protocols:?}");
        }
        let _ = writeln!(out, "[[tls.certificates]]\ncert = {cert:?}\nkey = {key:?}\ndefault = true\n");
    }
    let _ = writeln!(out, "[[route]]\nname = \"proxy\"\npath = \"/\"\nupstream = \"backends\"");
    let _ = writeln!(out, "cache = {cache}\ncompress = {compress}\nnoop_filters = {noop_filters}\n");
    let _ = writeln!(out, "[upstream.backends]\nservers = [{}]", servers.join(", "));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(to: &[&str], workers: usize) -> ProxyArgs {
        ProxyArgs {
            from: ":18080".into(),
            to: to.iter().map(|s| s.to_string()).collect(),
            workers,
            access_log: "off".into(),
            admin: "off".into(),
            cert: None,
            key: None,
            no_session_resumption: false,
            session_tickets: false,
            tls_protocols: Vec::new(),
            cache: false,
            compress: false,
            noop_filters: 3,
        }
    }

    #[test]
    fn builds_a_config_that_compiles() {
        let text = config(&args(&["http://127.0.0.1:3000", "127.0.0.1:3001/"], 2)).unwrap();
        let state = forecourt_proxy::ProcessState::new();
        let rt = forecourt_config::compile("quick", &text, &state).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(rt.upstreams["backends"].members().endpoints.len(), 2);
        assert_eq!(rt.workers, 2);
        assert!(rt.tls.is_none());
        assert_eq!(rt.router.routes()[0].chain.len(), 4, "hide_response_headers and three noop filters");
        assert!(config(&args(&["https://x:1"], 0)).is_err());
    }

    #[test]
    fn cache_and_compression_are_a_switch_each() {
        let chain_len = |cache: bool, compress: bool| {
            let text = config(&ProxyArgs { cache, compress, noop_filters: 0, ..args(&["127.0.0.1:3000"], 1) }).unwrap();
            let state = forecourt_proxy::ProcessState::new();
            let rt = forecourt_config::compile("quick", &text, &state).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            rt.router.routes()[0].chain.len()
        };
        assert_eq!((chain_len(false, false), chain_len(true, false), chain_len(false, true)), (1, 2, 2));
        assert_eq!(chain_len(true, true), 3);
    }
}
