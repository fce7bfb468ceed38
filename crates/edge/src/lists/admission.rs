//! `allow` / `deny` on a listener: a connection from outside them is closed at accept,
//! before a byte is read or a TLS handshake begins.
use super::list::{refusal, IpList};
use forecourt_proxy::admission::Admission;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct ListenerLists {
    pub allow: Vec<Arc<IpList>>,
    pub deny: Vec<Arc<IpList>>,
    /// Connections closed at accept.
    pub refused: Arc<AtomicU64>,
}

impl Admission for ListenerLists {
    fn admit(&self, peer: IpAddr) -> bool {
        let refused = refusal(&self.allow, &self.deny, peer).is_some();
        if refused {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        !refused
    }
}
