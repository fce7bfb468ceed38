//! `forecourt proxy --from ADDR --to URL...`: the zero-config proxy is an ordinary config,
//! written here and compiled like any file.
use std::fmt::Write as _;

pub fn config(from: &str, to: &[String], workers: usize, access_log: &str, admin: &str) -> Result<String, String> {
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
    let _ = writeln!(out, "[[listen]]\naddr = {from:?}\n");
    let _ = writeln!(out, "[[route]]\nname = \"proxy\"\npath = \"/\"\nupstream = \"backends\"\n");
    let _ = writeln!(out, "[upstream.backends]\nservers = [{}]", servers.join(", "));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_config_that_compiles() {
        let text =
            config(":18080", &["http://127.0.0.1:3000".into(), "127.0.0.1:3001/".into()], 2, "off", "off").unwrap();
        let rt = forecourt_config::compile("quick", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(rt.upstreams["backends"].members().endpoints.len(), 2);
        assert_eq!(rt.workers, 2);
        assert!(config(":1", &["https://x:1".into()], 0, "off", "off").is_err());
    }
}
