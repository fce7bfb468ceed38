//! `allow` / `deny` on a listener: a connection from outside them is closed at accept,
//! before a byte is read or a TLS handshake begins.
use super::list::{refusal, IpList};
use crate::refusals::Refusals;
use forecourt_proxy::admission::{Admission, Admitted};
use std::net::IpAddr;
use std::sync::Arc;

pub struct ListenerLists {
    pub allow: Vec<Arc<IpList>>,
    pub deny: Vec<Arc<IpList>>,
    /// The process's count of connections refused at accept.
    pub refusals: Arc<Refusals>,
}

impl Admission for ListenerLists {
    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        if refusal(&self.allow, &self.deny, peer).is_some() {
            Refusals::count(&self.refusals.ip_list);
            return None;
        }
        Some(Admitted::NOTHING)
    }
}
