//! `forecourt explain -c FILE METHOD URL [-H 'Name: value']`: the route, filters and
//! upstream that would serve a request, found by the same router the workers use.
use forecourt_proxy::route::Action;
use forecourt_proxy::router::request_host;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use std::process::ExitCode;

pub fn explain(config: &str, method: &str, url: &str, headers: &[String]) -> ExitCode {
    let rt = match forecourt_config::load(config) {
        Ok(rt) => rt,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            return ExitCode::FAILURE;
        }
    };
    let parts = match request(method, url, headers) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("forecourt explain: {e}");
            return ExitCode::from(2);
        }
    };
    let host = request_host(&parts.uri, &parts.headers);
    let path = parts.uri.path();
    println!("request:  {} host `{host}` path `{path}`", parts.method);
    let Some(found) = rt.router.find(host, &parts) else {
        println!("route:    none matches; Forecourt answers 404 Not Found");
        return ExitCode::SUCCESS;
    };
    let route = found.route;
    println!("route:    {} (matched by {}, {})", route.name, found.host_kind, found.path_kind);
    let filters: Vec<String> = route.filters.iter().map(|f| f.name()).collect();
    println!("filters:  {}", if filters.is_empty() { "none".to_string() } else { filters.join(" -> ") });
    match &route.action {
        Action::Proxy(group) => {
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
        Action::Split(split) => {
            let sides: Vec<String> = split
                .targets()
                .iter()
                .map(|t| {
                    let when = t.when_header.as_ref().map(|(n, v)| format!(", or when {n}: {v}")).unwrap_or_default();
                    format!("`{}` (weight {}{when}, {})", t.group.name, t.weight, t.group.algorithm().name())
                })
                .collect();
            println!("action:   split between {}", sides.join(", "));
        }
        Action::Respond { status, body } => println!("action:   respond {status} with {} bytes", body.len()),
        Action::Redirect { status, to } => println!("action:   redirect {status} to {to}"),
    }
    ExitCode::SUCCESS
}

fn request(method: &str, url: &str, headers: &[String]) -> Result<http::request::Parts, String> {
    let method =
        Method::from_bytes(method.to_ascii_uppercase().as_bytes()).map_err(|_| format!("bad method `{method}`"))?;
    let uri: Uri = url.parse().map_err(|_| format!("bad URL `{url}`"))?;
    let mut builder = Request::builder().method(method);
    if let Some(authority) = uri.authority() {
        builder = builder.header(http::header::HOST, authority.as_str());
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    builder = builder.uri(path);
    let mut req = builder.body(()).map_err(|e| e.to_string())?;
    for h in headers {
        let (name, value) = h.split_once(':').ok_or_else(|| format!("bad header `{h}`: write 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| format!("bad header name in `{h}`"))?;
        let value = HeaderValue::from_str(value.trim()).map_err(|_| format!("bad header value in `{h}`"))?;
        req.headers_mut().insert(name, value);
    }
    Ok(req.into_parts().0)
}
