//! A listener's check on each new connection's address, made before anything is read
//! from it and before any TLS handshake, so that a refused client costs one accept and
//! one close. The capabilities that refuse (IP lists; connection limits later) implement
//! it in their own crates; the snapshot holds one per listener that has any.
use std::net::IpAddr;

pub trait Admission: Send + Sync {
    /// Whether a connection from `peer` may go on (the implementation counts refusals).
    fn admit(&self, peer: IpAddr) -> bool;
}
