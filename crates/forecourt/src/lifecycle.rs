//! The process: compile the config, start the workers and the admin listener, then follow
//! signals. SIGHUP (or `POST /reload`) builds a new snapshot and swaps it in; SIGTERM and
//! SIGINT stop accepting, let in-flight requests finish up to `shutdown_timeout`, and exit 0.
use arc_swap::ArcSwap;
use forecourt_config::{CanListen, Diagnostic, Listening};
use forecourt_proxy::server::{run_worker, spawn_worker, WorkerSignals};
use forecourt_proxy::{ProcessState, Runtime};
use forecourt_upstream::dns::Refresher;
use forecourt_upstream::health::Checker;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Where the configuration comes from; reloads read it again.
pub enum ConfigSource {
    File(String),
    Embedded,
    /// Made by `forecourt proxy`.
    Text {
        name: String,
        text: String,
    },
}

impl ConfigSource {
    /// `-c FILE`, else `./forecourt.toml` when present, else the embedded default.
    pub fn resolve(arg: Option<String>) -> ConfigSource {
        match arg {
            Some(path) => ConfigSource::File(path),
            None if std::path::Path::new("forecourt.toml").exists() => ConfigSource::File("forecourt.toml".into()),
            None => ConfigSource::Embedded,
        }
    }

    /// Compiles the config to serve it; `can_listen` is asked of its listeners before it
    /// is committed.
    fn compile(&self, state: &ProcessState, can_listen: CanListen<'_>) -> Result<Runtime, Vec<Diagnostic>> {
        use forecourt_config::{compile_to_serve, load, EMBEDDED_DEFAULT};
        match self {
            ConfigSource::File(path) => load(path, state, can_listen),
            ConfigSource::Embedded => compile_to_serve("<embedded default>", EMBEDDED_DEFAULT, state, can_listen),
            ConfigSource::Text { name, text } => compile_to_serve(name, text, state, can_listen),
        }
    }

    fn name(&self) -> &str {
        match self {
            ConfigSource::File(path) => path,
            ConfigSource::Embedded => "<embedded default>",
            ConfigSource::Text { name, .. } => name,
        }
    }
}

fn init_tracing() {
    // redis-rs warns at each failed attempt to reach a node (twice a second while one is
    // down); Forecourt says once per outage that Redis is unreachable, and why.
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("FORECOURT_LOG").unwrap_or_else(|_| "info,redis=error".into());
    // Colours only on a terminal: a log file, the journal or `docker logs` would keep the
    // escape codes as text, and a pattern (fail2ban's) that reads `client=` would miss.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .init();
}

/// Checks that nobody listens on an address yet, without listening (so no connection can
/// be queued on, and lost with, a throwaway socket). `SO_REUSEPORT` is deliberately not set:
/// with it, a second Forecourt would silently share the port with the first.
fn can_bind(addr: SocketAddr) -> std::io::Result<()> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())
}

/// Where the workers run.
enum Workers {
    /// The only worker, as a task on the control thread.
    Inline(tokio::task::JoinHandle<()>),
    Threads(Vec<std::thread::JoinHandle<()>>),
}

/// Everything a reload needs.
struct Reloader {
    source: ConfigSource,
    /// What outlives every snapshot: metrics, upstream servers' state, TLS.
    state: ProcessState,
    runtime: Arc<ArcSwap<Runtime>>,
    listeners: watch::Sender<Vec<SocketAddr>>,
    /// Serialises reloads (SIGHUP and the admin endpoint may race).
    lock: Mutex<()>,
    /// Active health checks and DNS lookups follow the upstreams of each new snapshot.
    upkeep: Upkeep,
}

/// What follows the running snapshot from threads of its own: the active health checks
/// and the DNS lookups of names in `servers`, and the automatic certificates.
struct Upkeep {
    checker: Arc<Checker>,
    dns: Refresher,
    certs: Arc<forecourt_tls::auto::Manager>,
    state: ProcessState,
}

impl Upkeep {
    /// Starts both threads; when DNS changes a group's servers, the health checks of
    /// `runtime` follow.
    fn start(runtime: &Arc<ArcSwap<Runtime>>, state: &ProcessState) -> std::io::Result<Upkeep> {
        let checker = Arc::new(Checker::start()?);
        let (follow, runtime, registry) = (checker.clone(), runtime.clone(), state.upstreams.clone());
        let dns = Refresher::start(Arc::new(move || {
            follow.follow(runtime.load().upstreams.values());
            registry.forget_vanished_addresses();
        }))?;
        let certs = Arc::new(forecourt_tls::auto::Manager::start(state.tls.managed.clone())?);
        Ok(Upkeep { checker, dns, certs, state: state.clone() })
    }

    fn follow(&self, rt: &Runtime) {
        self.checker.follow(rt.upstreams.values());
        self.dns.follow(&rt.dns, rt.upstreams.values());
        self.state.upstreams.forget_vanished_addresses();
        match &rt.tls {
            Some(tls) => self.certs.follow(&tls.auto),
            None => self.certs.follow(&Default::default()),
        }
    }
}

impl Reloader {
    /// Reads, checks, compiles and swaps; on any error the running snapshot stays.
    fn reload(&self) -> Result<String, String> {
        let _one_at_a_time = self.lock.lock().unwrap();
        let result = self.try_reload();
        match &result {
            Ok(summary) => {
                self.state.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
                tracing::info!(config = self.source.name(), "reloaded: {summary}");
            }
            Err(why) => {
                self.state.metrics.reloads_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    config = self.source.name(),
                    "reload refused, still serving the previous config:\n{why}"
                );
            }
        }
        result
    }

    fn try_reload(&self) -> Result<String, String> {
        let old = self.runtime.load();
        // A new address is tried before the config is committed: a reload refused for a
        // port in use leaves the running config's limits, bans, cache and switches as
        // they were. The admin endpoint stays where it is until a restart.
        let can_listen = |addr, listening| match listening == Listening::Admin || old.listeners.contains(&addr) {
            true => Ok(()),
            false => can_bind(addr).map_err(|e| e.to_string()),
        };
        let new = self
            .source
            .compile(&self.state, &can_listen)
            .map_err(|d| d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
        if new.workers != old.workers {
            tracing::warn!("`workers` changed; the new count applies after a restart");
        }
        if new.admin != old.admin {
            tracing::warn!("`admin` changed; the new address applies after a restart");
        }
        let summary = forecourt_config::summary(&new);
        let addrs = new.listeners.clone();
        let new = Arc::new(new);
        self.runtime.store(new.clone());
        self.upkeep.follow(&new);
        self.listeners.send_replace(addrs);
        Ok(summary)
    }
}

pub fn run(source: ConfigSource) -> ExitCode {
    init_tracing();
    crate::open_files::raise_limit();
    let state = ProcessState::new();
    let rt = match source.compile(&state, &|addr, _| can_bind(addr).map_err(|e| e.to_string())) {
        Ok(rt) => rt,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            eprintln!("{}: {} error(s); not started", source.name(), diagnostics.len());
            return ExitCode::FAILURE;
        }
    };
    let workers = match rt.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    };
    // Long WAF inspections run apart from the workers, as many at once as there are workers.
    forecourt_edge::waf::set_inspection_turns(workers);
    let summary = forecourt_config::summary(&rt);
    let admin = rt.admin;
    let pid_file = rt.pid_file.clone();
    let (listeners_tx, listeners_rx) = watch::channel(rt.listeners.clone());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let runtime = Arc::new(ArcSwap::from_pointee(rt));
    let upkeep = match Upkeep::start(&runtime, &state) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("cannot start the health-check, DNS and certificate threads: {e}");
            return ExitCode::FAILURE;
        }
    };
    upkeep.follow(&runtime.load());
    if let Err(e) = crate::cert_watch::start(runtime.clone()) {
        eprintln!("cannot start the certificate watcher: {e}");
        return ExitCode::FAILURE;
    }

    let signals = WorkerSignals {
        runtime: runtime.clone(),
        listeners: listeners_rx,
        shutdown: shutdown_rx,
        metrics: state.metrics,
        housekeeping: Some(crate::return_freed_memory),
    };
    let control = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(control) => control,
        Err(e) => {
            eprintln!("cannot start the control thread's runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    let running = if workers == 1 {
        // A lone worker shares the control thread: a process with a single thread keeps its
        // file table to itself, and the kernel then skips taking a reference on the socket
        // in every read and write.
        Workers::Inline(local.spawn_local(run_worker(0, signals)))
    } else {
        let mut threads = Vec::with_capacity(workers);
        for id in 0..workers {
            match spawn_worker(id, signals.clone()) {
                Ok(t) => threads.push(t),
                Err(e) => {
                    eprintln!(
                        "cannot start worker {id} of {workers}: {e} (fewer `workers`, or a higher open-file limit)"
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        Workers::Threads(threads)
    };
    if let Some(path) = &pid_file {
        if let Err(e) = std::fs::write(path, format!("{}\n", std::process::id())) {
            tracing::warn!(path, error = %e, "cannot write pid file");
        }
    }
    tracing::info!(config = source.name(), workers, "forecourt started: {summary}");

    let reloader = Arc::new(Reloader {
        source,
        state,
        runtime: runtime.clone(),
        listeners: listeners_tx,
        lock: Mutex::new(()),
        upkeep,
    });
    let at_exit = reloader.clone();
    let started = local.block_on(&control, follow_signals(reloader, admin));
    if let Err(e) = started {
        eprintln!("{e}");
        let _ = shutdown_tx.send(true);
        return ExitCode::FAILURE;
    }

    // Drain: workers stop accepting and close connections once their requests are done.
    let deadline = Instant::now() + runtime.load().settings.shutdown_timeout;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = shutdown_tx.send(true);
    let drained = match running {
        Workers::Inline(worker) => {
            let deadline = tokio::time::Instant::from_std(deadline);
            local.block_on(&control, async { tokio::time::timeout_at(deadline, worker).await.is_ok() })
        }
        Workers::Threads(threads) => {
            while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            threads.iter().all(|t| t.is_finished())
        }
    };
    if !drained {
        tracing::warn!("shutdown deadline reached; closing the remaining connections");
    }
    // The bans made in the last second, which the sweeper has not written yet.
    if let Some(bans) = at_exit.state.services.get::<forecourt_edge::bans::Bans>() {
        bans.keep_on_disk();
    }
    if let Some(path) = &pid_file {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

/// Serves the admin endpoint and follows signals until SIGTERM, SIGINT or SIGQUIT.
async fn follow_signals(reloader: Arc<Reloader>, admin: Option<SocketAddr>) -> Result<(), String> {
    let reload: forecourt_admin::ReloadFn = {
        let r = reloader.clone();
        Arc::new(move || r.reload())
    };
    let snapshot: forecourt_admin::SnapshotFn = {
        let runtime = reloader.runtime.clone();
        Arc::new(move || runtime.load_full())
    };
    let renew_certificate: forecourt_admin::RenewFn = {
        let certs = reloader.upkeep.certs.clone();
        Arc::new(move |name| certs.renew(name))
    };
    if let Some(addr) = admin {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on admin address {addr}: {e}"))?;
        let control = forecourt_admin::Control { reload, snapshot, renew_certificate, state: reloader.state.clone() };
        tokio::spawn(forecourt_admin::serve(listener, control));
    }
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    // SIGQUIT is nginx's graceful shutdown (`nginx -s quit`), and operators' scripts send
    // it; the same drain as SIGTERM here. Handled, not left to its default: a process
    // started from a shell's background job inherits SIGQUIT ignored and never stopped.
    let mut quit = signal(SignalKind::quit()).map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                // Compiling may resolve names and read files: keep it off the signal loop's thread.
                let r = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload()).await;
            }
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = quit.recv() => return Ok(()),
        }
    }
}
