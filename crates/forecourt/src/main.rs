//! `forecourt`: the binary. Parses the command line and hands over to the command.
mod cert_watch;
mod cli;
mod explain;
mod lifecycle;
mod quick;
mod reload_cmd;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// The request path allocates small, short-lived objects at a high rate from one thread per
/// core; mimalloc's thread-local free lists serve that better than glibc malloc (measured:
/// see bench/README.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns memory freed on this thread (by parked connections, say) to the system.
/// mimalloc purges freed pages only on later allocator activity, which an idle worker never
/// has; each worker calls this once a second. (Measured: 10,000 idle keep-alive connections
/// hold 195 MiB without it.)
pub fn return_freed_memory() {
    // SAFETY: mi_collect only walks this thread's heap.
    unsafe { libmimalloc_sys::mi_collect(false) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => lifecycle::run(lifecycle::ConfigSource::resolve(config)),
        Command::Check { config } => check(&config),
        Command::Proxy(args) => match quick::config(&args) {
            Ok(text) => lifecycle::run(lifecycle::ConfigSource::Text { name: "<forecourt proxy>".into(), text }),
            Err(e) => {
                eprintln!("forecourt proxy: {e}");
                ExitCode::from(2)
            }
        },
        Command::Reload { config, pid_file } => reload_cmd::reload(config, pid_file),
        Command::Explain { config, method, url, headers } => explain::explain(&config, &method, &url, &headers),
    }
}

fn check(path: &str) -> ExitCode {
    match forecourt_config::load(path, &forecourt_proxy::ProcessState::new()) {
        Ok(rt) => {
            println!("{path}: ok: {}", forecourt_config::summary(&rt));
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{path}: {} error(s); nothing was started", diagnostics.len());
            ExitCode::FAILURE
        }
    }
}
