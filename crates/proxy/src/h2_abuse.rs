//! Why an HTTP/2 client connection was cut off, for `forecourt_h2_connections_closed_total`.
//! The h2 library (under hyper) cuts the floods itself, each with a GOAWAY
//! ENHANCE_YOUR_CALM: rapid reset (streams the client resets before they are served, past
//! 20 pending), a CONTINUATION flood (more fragments than the header-list bound needs), a
//! flood of empty or tiny DATA frames, a header list far over its bound. The error it
//! hands back no longer says which (its debug data is gone by then), so they are counted
//! together as `flood`. PING and SETTINGS floods are held by back-pressure (one answer
//! pending at a time, nothing more read until it is written). An invalid prior-knowledge
//! preface is answered here, before h2 sees the connection (`GOAWAY_PROTOCOL_ERROR`).
use std::sync::atomic::{AtomicU64, Ordering};

/// A connection error the server detected, by cause.
/// (Its discriminant is its place in `ALL` and in `Cutoffs`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cutoff {
    BadPreface,
    /// ENHANCE_YOUR_CALM: one of the floods above.
    Flood,
    /// Any other protocol violation h2 detected.
    ProtocolError,
}

impl Cutoff {
    pub const ALL: [Cutoff; 3] = [Cutoff::BadPreface, Cutoff::Flood, Cutoff::ProtocolError];

    pub fn name(self) -> &'static str {
        match self {
            Cutoff::BadPreface => "bad_preface",
            Cutoff::Flood => "flood",
            Cutoff::ProtocolError => "protocol_error",
        }
    }

    /// What a ban rule's `on` calls it (`h2_flood`, ...): a strike against the client.
    pub fn trigger(self) -> &'static str {
        match self {
            Cutoff::BadPreface => "h2_bad_preface",
            Cutoff::Flood => "h2_flood",
            Cutoff::ProtocolError => "h2_protocol_error",
        }
    }

    /// The cause of a connection's end, from hyper's error and its sources: h2 says
    /// "connection error detected" for what it detected itself, and names the reason in
    /// its `Debug` form; `None` for anything else (the peer went away, an I/O error).
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<Cutoff> {
        let mut next = Some(error);
        while let Some(e) = next {
            if e.to_string().starts_with("connection error detected") {
                return Some(Cutoff::classify(&format!("{e:?}")));
            }
            next = e.source();
        }
        None
    }

    fn classify(debug: &str) -> Cutoff {
        match debug.contains("ENHANCE_YOUR_CALM") {
            true => Cutoff::Flood,
            false => Cutoff::ProtocolError,
        }
    }
}

/// Connections cut off, by cause (`Cutoff::ALL`'s order).
#[derive(Default)]
pub struct Cutoffs([AtomicU64; Cutoff::ALL.len()]);

impl Cutoffs {
    pub fn count(&self, cause: Cutoff) {
        self.0[cause as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, cause: Cutoff) -> u64 {
        self.0[cause as usize].load(Ordering::Relaxed)
    }
}

/// How many cutoffs a second are written to the error log one by one: a flood that
/// reconnects as fast as it is cut off would otherwise write a line per connection (400 a
/// second in `bench/attack.py`'s rapid reset), a log flood of its own.
const LINES_PER_SECOND: u64 = 10;

/// The error log's share of cutoffs: `LINES_PER_SECOND` in each second of the clock, the
/// rest counted and said in one line with the next one written.
#[derive(Default)]
pub struct CutoffLines {
    /// The second (Unix time) lines are being counted in, and how many it had: the
    /// second in the high 40 bits, its count in the low 24.
    second_and_count: AtomicU64,
    left_out: AtomicU64,
}

impl CutoffLines {
    pub const fn new() -> CutoffLines {
        CutoffLines { second_and_count: AtomicU64::new(0), left_out: AtomicU64::new(0) }
    }

    /// Whether a cutoff at `now` (Unix seconds) gets its line; with it, how many were left
    /// out since the last one written.
    pub fn take(&self, now: u64) -> Option<u64> {
        let mut current = self.second_and_count.load(Ordering::Relaxed);
        loop {
            let (second, count) = (current >> 24, current & 0xff_ffff);
            let next = match second == now & 0xff_ffff_ffff {
                true if count >= LINES_PER_SECOND => {
                    self.left_out.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                true => current + 1,
                false => (now << 24) | 1,
            };
            match self.second_and_count.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Some(self.left_out.swap(0, Ordering::Relaxed)),
                Err(seen) => current = seen,
            }
        }
    }
}

/// The start of a client speaking HTTP/2 with prior knowledge.
pub const PREFACE_LINE: &[u8] = b"PRI * HTTP/2.0\r\n";

/// GOAWAY (type 7) on stream 0: last stream 0, PROTOCOL_ERROR (1).
pub const GOAWAY_PROTOCOL_ERROR: [u8; 17] = [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_come_from_what_h2_detected() {
        assert_eq!(Cutoff::classify("Error { kind: GoAway(b\"\", ENHANCE_YOUR_CALM, Library) }"), Cutoff::Flood);
        assert_eq!(Cutoff::classify("Error { kind: GoAway(b\"\", PROTOCOL_ERROR, Library) }"), Cutoff::ProtocolError);
        let io = std::io::Error::other("connection reset");
        assert_eq!(Cutoff::of(&io), None);
    }

    #[test]
    fn ten_cutoff_lines_a_second_then_one_that_counts_the_rest() {
        let lines = CutoffLines::new();
        let taken: Vec<_> = (0..25).map(|_| lines.take(1_000)).collect();
        assert_eq!(taken.iter().filter(|t| **t == Some(0)).count(), 10);
        assert!(taken[10..].iter().all(Option::is_none));
        assert_eq!(lines.take(1_001), Some(15), "the next second's first line counts the 15 left out");
        assert_eq!(lines.take(1_001), Some(0));
    }
}
