//! Bans at accept: a connection from a banned address is closed before a byte is read or
//! a TLS handshake begins (a client behind a trusted proxy is checked per request instead).
use super::registry::Bans;
use crate::refusals::Refusals;
use forecourt_proxy::admission::{Admission, Admitted};
use std::net::IpAddr;
use std::sync::Arc;

pub struct BanAdmission {
    pub bans: Arc<Bans>,
    pub refusals: Arc<Refusals>,
}

impl Admission for BanAdmission {
    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        if self.bans.is_banned(peer) {
            Refusals::count(&self.refusals.banned);
            return None;
        }
        Some(Admitted::NOTHING)
    }
}
