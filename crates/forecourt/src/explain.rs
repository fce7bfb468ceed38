//! `forecourt explain -c FILE METHOD URL [-H 'Name: value']`: how a request would be
//! served: read by the same HTTP/1 rules and found by the same router the workers use,
//! then the front chain, the route, its chain (each filter with its phases and
//! parameters, as `GET /api/routes` gives them) and the action.
use forecourt_proxy::action::Action;
use forecourt_proxy::filter::{Chain, FilterInfo};
use forecourt_proxy::forward::Target;
use forecourt_proxy::normal_path::normalized;
use forecourt_proxy::router::request_host;
use forecourt_proxy::Runtime;
use http::{request, Uri};
use std::process::ExitCode;

pub fn explain(config: &str, method: &str, url: &str, headers: &[String]) -> ExitCode {
    let rt = match forecourt_config::load_to_inspect(config) {
        Ok(rt) => rt,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            return ExitCode::FAILURE;
        }
    };
    let head = match request_head(method, url, headers) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("forecourt explain: {e}");
            return ExitCode::from(2);
        }
    };
    let limits = &rt.settings.client;
    let parts = match forecourt_proxy::h1::parse_one(
        &head,
        limits.max_header_bytes,
        limits.max_headers,
        limits.non_ascii_targets,
    ) {
        Ok(req) => req.into_parts().0,
        Err((status, why)) => {
            println!("request:  refused ({why}); Forecourt answers {status}");
            return ExitCode::SUCCESS;
        }
    };
    show(&rt, &parts);
    ExitCode::SUCCESS
}

fn show(rt: &Runtime, parts: &request::Parts) {
    let host = request_host(&parts.uri, &parts.headers);
    println!("request:  {} host `{host}` path `{}`", parts.method, parts.uri.path());
    println!("front:    {}", one_line(&rt.front));
    let Some(path) = normalized(parts.uri.path()) else {
        println!("route:    none: the path climbs above the root; Forecourt answers 400 Bad Request");
        return;
    };
    if path != parts.uri.path() {
        println!("path:     `{path}` as routes read it");
    }
    let Some(found) = rt.router.find(host, &path, parts) else {
        println!("route:    none matches; Forecourt answers 404 Not Found");
        print_phases(&[("front", &rt.front)]);
        return;
    };
    let route = found.route;
    println!("route:    {} (matched by {}, {})", route.name, found.host_kind, found.path_kind);
    if !route.allows(&parts.method) {
        println!("action:   none: the route does not list {}; Forecourt answers 405 Method Not Allowed", parts.method);
        return;
    }
    println!("filters:  {}", one_line(&route.chain));
    match &route.action {
        Action::Forward(forward) => match &forward.to {
            Target::Group(group) => {
                let servers: Vec<String> = group
                    .members()
                    .endpoints
                    .iter()
                    .map(|e| format!("{} (weight {}{})", e.label, e.weight, if e.backup { ", backup" } else { "" }))
                    .collect();
                println!(
                    "action:   proxy to upstream `{}` ({:?}, {}): {}",
                    group.name,
                    group.protocol,
                    group.algorithm().name(),
                    servers.join(", ")
                );
            }
            Target::Split(split) => {
                let sides: Vec<String> = split
                    .targets()
                    .iter()
                    .map(|t| {
                        let when =
                            t.when_header.as_ref().map(|(n, v)| format!(", or when {n}: {v}")).unwrap_or_default();
                        format!("`{}` (weight {}{when}, {})", t.group.name, t.weight, t.group.algorithm().name())
                    })
                    .collect();
                println!("action:   split between {}", sides.join(", "));
            }
        },
        Action::Respond { status, body } => println!("action:   respond {status} with {} bytes", body.len()),
        Action::Redirect { status, to } => println!("action:   redirect {status} to {to}"),
    }
    print_phases(&[("front", &rt.front), ("route", &route.chain)]);
}

/// `a -> b(x) -> c`, or `none`.
fn one_line(chain: &Chain) -> String {
    let labels: Vec<String> = chain.describe().iter().map(FilterInfo::label).collect();
    if labels.is_empty() {
        "none".into()
    } else {
        labels.join(" -> ")
    }
}

/// Each filter of each chain, in order: its phases and parameters.
fn print_phases(chains: &[(&str, &Chain)]) {
    println!("phases:   (request, request_body and upstream in chain order; response phases in reverse)");
    for (name, chain) in chains {
        for (i, info) in chain.describe().iter().enumerate() {
            let params: Vec<String> = info.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let label = if i == 0 { *name } else { "" };
            println!("  {label:<6} {:<22} {:<28} {}", info.kind, info.phases.names().join(","), params.join("  "));
        }
    }
}

/// The request as an HTTP/1.1 client would send it: the URL as the request target
/// (absolute-form, as a client of a proxy sends it), its host as `Host` unless one is
/// given, and the headers.
fn request_head(method: &str, url: &str, headers: &[String]) -> Result<Vec<u8>, String> {
    let uri: Uri = url.parse().map_err(|_| format!("bad URL `{url}`"))?;
    let authority = uri.authority().ok_or_else(|| format!("`{url}` names no host: write http://HOST/PATH"))?;
    let mut head = format!("{} {url} HTTP/1.1\r\n", method.to_ascii_uppercase());
    let mut host_given = false;
    for h in headers {
        let (name, value) = h.split_once(':').ok_or_else(|| format!("bad header `{h}`: write 'Name: value'"))?;
        host_given |= name.trim().eq_ignore_ascii_case("host");
        head.push_str(&format!("{}: {}\r\n", name.trim(), value.trim()));
    }
    if !host_given {
        let host = authority.as_str().rsplit_once('@').map_or(authority.as_str(), |(_, host)| host);
        head.push_str(&format!("Host: {host}\r\n"));
    }
    head.push_str("\r\n");
    Ok(head.into_bytes())
}
