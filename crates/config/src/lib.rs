//! Forecourt's configuration: the TOML model ([`model`]), checks that point at
//! `file:line:col` ([`Diagnostic`]), and compilation into the immutable
//! [`forecourt_proxy::Runtime`] snapshot that requests read. No sockets are opened here.
mod compile;
mod diagnostic;
pub mod model;
mod units;

pub use compile::{compile, compile_to_serve, inspect, CanListen, Listening};
pub use diagnostic::Diagnostic;
pub use units::parse_duration;

/// The configuration used when no file is given and there is no `forecourt.toml` here.
pub const EMBEDDED_DEFAULT: &str = include_str!("default.toml");

/// Reads, checks and compiles a config file, wired to the process's `state` (`compile`).
pub fn load(
    path: &str,
    state: &forecourt_proxy::ProcessState,
    can_listen: CanListen<'_>,
) -> Result<forecourt_proxy::Runtime, Vec<Diagnostic>> {
    read(path).and_then(|text| compile_to_serve(path, &text, state, can_listen))
}

/// Reads, checks and compiles a config file for a command that will not serve it
/// (`inspect`).
pub fn load_to_inspect(path: &str) -> Result<forecourt_proxy::Runtime, Vec<Diagnostic>> {
    read(path).and_then(|text| inspect(path, &text))
}

fn read(path: &str) -> Result<String, Vec<Diagnostic>> {
    std::fs::read_to_string(path).map_err(|e| {
        vec![Diagnostic {
            file: path.to_string(),
            line: 1,
            col: 1,
            message: format!("cannot read the file: {e}"),
            hint: None,
        }]
    })
}

/// A one-line summary of a compiled runtime, as `forecourt check` prints it.
pub fn summary(rt: &forecourt_proxy::Runtime) -> String {
    let listeners: Vec<String> = rt.listeners.iter().map(|a| a.to_string()).collect();
    let auto = rt.tls.as_ref().map_or(&[][..], |t| &t.auto.names[..]);
    let auto = match auto.is_empty() {
        true => String::new(),
        false => {
            let names: Vec<String> = auto.iter().map(|n| format!("{} ({})", n.name, n.issuer.label())).collect();
            format!(", automatic certificates for {}", names.join(", "))
        }
    };
    format!(
        "{} listener(s) [{}], {} route(s), {} upstream(s), admin {}{auto}",
        rt.listeners.len(),
        listeners.join(", "),
        rt.router.routes().len(),
        rt.upstreams.len(),
        rt.admin.map(|a| a.to_string()).unwrap_or_else(|| "off".into())
    )
}
