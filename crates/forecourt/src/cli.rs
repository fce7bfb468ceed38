//! The command line: `run`, `check`, `proxy`, `reload`, `explain`.
use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "forecourt", version, about = "A reverse proxy: fast, hot-reloadable, one binary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve. Without -c: ./forecourt.toml if present, else the embedded default config.
    Run {
        #[arg(short, long, value_name = "FILE")]
        config: Option<String>,
    },
    /// Validate a config file, like `nginx -t`: exit 0 with a summary, or 1 with file:line:col errors.
    Check {
        #[arg(short, long, value_name = "FILE")]
        config: String,
    },
    /// Proxy everything to the given servers, no config file needed.
    Proxy(ProxyArgs),
    /// Ask a running Forecourt to reload its config (SIGHUP through the pid file, or the admin endpoint).
    Reload {
        #[arg(short, long, value_name = "FILE")]
        config: Option<String>,
        /// Signal the process whose pid is in this file instead.
        #[arg(long, value_name = "FILE")]
        pid_file: Option<String>,
    },
    /// Show which route, filters and upstream would serve a request.
    Explain {
        #[arg(short, long, value_name = "FILE")]
        config: String,
        /// The request method, e.g. GET.
        method: String,
        /// The full URL, e.g. https://example.com/api/x.
        url: String,
        /// A request header, "Name: value"; repeat for more.
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
    },
}

/// `forecourt proxy`: a listener, servers, and a few switches.
#[derive(Args, Debug)]
pub struct ProxyArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 or :8080.
    #[arg(long, value_name = "ADDR")]
    pub from: String,
    /// An upstream server, e.g. http://127.0.0.1:3000; repeat for more.
    #[arg(long, value_name = "URL", required = true)]
    pub to: Vec<String>,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Access log: "off" (default), "stdout" or a file path.
    #[arg(long, default_value = "off")]
    pub access_log: String,
    /// Admin listener address, or "off" (default).
    #[arg(long, default_value = "off")]
    pub admin: String,
    /// Terminate TLS with this certificate (PEM chain; with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<String>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<String>,
    /// TLS: no session resumption, every handshake a full one.
    #[arg(long, requires = "cert")]
    pub no_session_resumption: bool,
    /// TLS: resume by tickets sealed under keys that rotate every 6 hours, rather than
    /// from the server's session store.
    #[arg(long, requires = "cert", conflicts_with = "no_session_resumption")]
    pub session_tickets: bool,
    /// TLS: the protocol versions offered, e.g. "1.2" or "1.2,1.3" (the default: both).
    #[arg(long, value_name = "LIST", requires = "cert", value_delimiter = ',')]
    pub tls_protocols: Vec<String>,
    /// Cache what the servers let a shared cache store (RFC 9111; a 256 MiB memory
    /// tier): the config's `cache = true`.
    #[arg(long)]
    pub cache: bool,
    /// Compress responses for clients that accept it (zstd, brotli, gzip): the config's
    /// `compress = true`.
    #[arg(long)]
    pub compress: bool,
    /// Filters that do nothing, in every phase, on the route: for measuring what the
    /// filter chain itself costs (benchmarks).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub noop_filters: usize,
}
