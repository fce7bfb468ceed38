//! `forecourt`: the binary. Parses the command line and hands over to the command.
mod cert_watch;
mod cli;
mod explain;
mod lifecycle;
mod open_files;
mod quick;
mod reload_cmd;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// The request path allocates small, short-lived objects at a high rate from one thread per
/// core; mimalloc's thread-local free lists serve that better than glibc malloc (measured:
/// see bench/proxy.md).
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

/// mimalloc's `mi_option_purge_delay` (the sixteenth of `mi_option_e` in mimalloc.h, v2 and
/// v3 alike; the crate does not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How the allocator gives memory back, set before anything else runs. Measured with
/// `bench/idle_memory.py` (10,000 idle keep-alive connections; bench/proxy.md):
///
/// - Freed memory goes back to the system 10 ms after it was freed rather than mimalloc
///   v3's 1 s: with 1 s, what the connections' busy spells had used was still resident
///   long after they parked (1,600-1,900 bytes a connection with two workers, 630-670
///   with 10 ms). Under wrk's load even no delay at all costs one `madvise` per 340
///   requests.
/// - No transparent huge pages: mimalloc asks for them on its arenas, and a 2 MiB page
///   that a few live objects keep is resident whole; resident memory then moved by 10 MiB
///   from run to run with how the huge pages fell, and the idle process was 5 MiB larger.
///   A proxy's working set is small and its memory should follow its load (nginx and
///   HAProxy do not use them either).
fn allocator_settings() {
    // SAFETY: plain calls: an allocator option, and a flag on this process's own memory.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10);
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    allocator_settings();
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
    match forecourt_config::load_to_inspect(path) {
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
