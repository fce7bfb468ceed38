//! `TCP_DEFER_ACCEPT` on a worker's listener, on while connections come fast and off
//! while they come slowly.
//!
//! Deferred, the kernel completes a connection only once the client's first bytes have
//! come (nginx's `listen ... deferred`, HAProxy's `defer-accept`): `accept` wakes once,
//! with the request readable. With new connections by the tens of thousands a second that
//! saves about a sixth of what each costs the worker (bench/proxy.md, "close"). But an
//! idle worker then starts waking, accepting and registering the connection only once the
//! request is there, where an eager accept does it while the client is still getting its
//! request out: bench/attack.py's client (a new connection a request, 20 a second) got its
//! answers 0.1–0.2 ms later at p50 with deferral, on the 2-core machine and the 16-core
//! one. An idle worker has the time to spare; a busy one has not. So a listener accepts
//! eagerly, as nginx and HAProxy do unless told otherwise, until it accepts `ON_RATE`
//! connections a second, and defers from then on until the rate falls under `OFF_RATE`.
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Connections a second on one listener of one worker from which accepts are deferred.
const ON_RATE: f64 = 5_000.0;
/// Connections a second under which a deferring listener accepts eagerly again.
const OFF_RATE: f64 = 1_000.0;
/// How long the rate is counted over before it is looked at.
const WINDOW: Duration = Duration::from_millis(250);

/// How long the kernel holds a connection that has sent nothing before handing it over
/// anyway (rounded by the kernel to its SYN-ACK retransmissions).
const HOLD_SECONDS: libc::c_int = 1;

/// The rate of accepts on one listener, and whether it is deferring.
pub struct DeferAccept {
    on: bool,
    accepted: u32,
    since: Instant,
}

impl DeferAccept {
    /// A listener starts eager (deferral off, as `bind` leaves it).
    pub fn new(now: Instant) -> Self {
        DeferAccept { on: false, accepted: 0, since: now }
    }

    /// Counts a connection accepted on `listener` at `now`; once a window has passed,
    /// turns deferral on or off by the rate it saw. The window ends at an accept, so a
    /// quiet spell counts in full at the first connection after it.
    pub fn accepted(&mut self, listener: &impl AsRawFd, now: Instant) {
        self.accepted += 1;
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < WINDOW {
            return;
        }
        let rate = f64::from(self.accepted) / elapsed.as_secs_f64();
        let wanted = if self.on { rate >= OFF_RATE } else { rate >= ON_RATE };
        if wanted != self.on && set(listener, wanted).is_ok() {
            self.on = wanted;
        }
        self.accepted = 0;
        self.since = now;
    }
}

/// Turns `TCP_DEFER_ACCEPT` on or off on a listening socket; connections in the middle of
/// their handshake keep what they started with.
#[cfg(target_os = "linux")]
fn set(listener: &impl AsRawFd, on: bool) -> std::io::Result<()> {
    let seconds: libc::c_int = if on { HOLD_SECONDS } else { 0 };
    // SAFETY: a plain setsockopt on a descriptor the caller keeps open, with a pointer to
    // a live c_int and its size.
    let done = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            &seconds as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set(_: &impl AsRawFd, _: bool) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn deferring(listener: &std::net::TcpListener) -> bool {
        let mut seconds: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a live c_int with its size, on an open socket.
        let done = unsafe {
            libc::getsockopt(
                listener.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_DEFER_ACCEPT,
                &mut seconds as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        };
        assert_eq!(done, 0);
        seconds > 0
    }

    /// `n` accepts spread evenly over `over`, starting at `from`.
    fn accept_many(d: &mut DeferAccept, listener: &std::net::TcpListener, from: Instant, n: u32, over: Duration) {
        for i in 1..=n {
            d.accepted(listener, from + over * i / n);
        }
    }

    #[test]
    fn a_fast_listener_defers_and_a_slow_one_accepts_eagerly() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let mut d = DeferAccept::new(start);
        assert!(!deferring(&listener), "a new listener accepts eagerly");

        // 20 a second, as a quiet site: stays eager.
        accept_many(&mut d, &listener, start, 20, Duration::from_secs(1));
        assert!(!d.on && !deferring(&listener));

        // 10,000 a second: defers, on the socket itself.
        let t = start + Duration::from_secs(1);
        accept_many(&mut d, &listener, t, 5_000, Duration::from_millis(500));
        assert!(d.on && deferring(&listener));

        // 2,000 a second: between the two rates, keeps deferring.
        let t = t + Duration::from_millis(500);
        accept_many(&mut d, &listener, t, 1_000, Duration::from_millis(500));
        assert!(d.on && deferring(&listener));

        // A quiet spell, then one connection: the spell counts, and it turns eager.
        d.accepted(&listener, t + Duration::from_secs(10));
        assert!(!d.on && !deferring(&listener));
    }

    #[test]
    fn nothing_is_decided_before_a_window_has_passed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let mut d = DeferAccept::new(start);
        // 1,500 connections in 100 ms is 15,000 a second, but not yet a window's worth.
        accept_many(&mut d, &listener, start, 1_500, Duration::from_millis(100));
        assert!(!d.on && !deferring(&listener));
        // One more at the window's end: 1,501 in 250 ms, 6,004 a second.
        d.accepted(&listener, start + WINDOW);
        assert!(d.on && deferring(&listener));
    }
}
