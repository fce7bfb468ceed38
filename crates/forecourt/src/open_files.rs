//! The open-file limit. Every proxied request holds two descriptors (the client's and the
//! upstream's), and the soft limit a process inherits is often 1024 (systemd's default for
//! services, kept low for programs that still use `select()`), where the hard limit allows
//! hundreds of thousands. Forecourt uses no `select()`, so it raises its soft limit to the
//! hard one at start, as Go programs (Caddy, Traefik) do and HAProxy does for its `maxconn`;
//! nginx asks for `worker_rlimit_nofile` instead.

/// Below this many descriptors a busy site runs out: said in the log at start.
const LOW: u64 = 4096;

/// Raises the soft limit to the hard one and says in the log what the limit is now.
pub fn raise_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let before = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit reads the struct it is given; raising the soft limit up to the
        // hard one needs no privilege.
        match unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } {
            0 => limit = raised,
            _ => tracing::warn!(error = %std::io::Error::last_os_error(), "cannot raise the open-file limit"),
        }
    }
    let now = limit.rlim_cur;
    if now < LOW {
        tracing::warn!(
            limit = now,
            "the open-file limit is low: about {} connections can be proxied at once \
             (raise the hard limit: LimitNOFILE= in a systemd unit, ulimit -Hn in a shell)",
            now / 2
        );
    } else if now > before {
        tracing::info!(from = before, to = now, "open-file limit raised to the hard limit");
    }
}
