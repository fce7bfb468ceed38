//! A listener's check on each new connection's address, made before anything is read
//! from it and before any TLS handshake, so that a refused client costs one accept and
//! one close. The capabilities that refuse (IP lists, connection limits) implement it in
//! their own crates; the snapshot holds them per listener.
use std::net::IpAddr;

pub trait Admission: Send + Sync {
    /// Whether a connection from `peer` may go on (the implementation counts refusals).
    /// What it admits it may hold on to until the connection ends: the returned value is
    /// dropped then (a count of open connections goes down).
    fn admit(&self, peer: IpAddr) -> Option<Admitted>;
}

/// What an admission holds for as long as the connection lives.
#[derive(Default)]
pub struct Admitted {
    /// Kept for its `Drop`.
    _held: Option<Box<dyn Send>>,
}

impl Admitted {
    /// Nothing to hold.
    pub const NOTHING: Admitted = Admitted { _held: None };

    /// Holds `value` until the connection ends.
    pub fn holding(value: impl Send + 'static) -> Admitted {
        Admitted { _held: Some(Box::new(value)) }
    }

    pub fn holds_something(&self) -> bool {
        self._held.is_some()
    }
}
