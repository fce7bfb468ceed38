//! A named list (`[lists.NAME]`) as loaded, with the count of addresses it matched.
use super::set::IpSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct IpList {
    pub name: String,
    pub set: IpSet,
    /// Connections or requests it matched.
    pub hits: AtomicU64,
}

impl IpList {
    pub fn new(name: &str, set: IpSet) -> IpList {
        IpList { name: name.to_owned(), set, hits: AtomicU64::new(0) }
    }

    /// Whether `ip` is in the list (counted when it is).
    pub fn matches(&self, ip: IpAddr) -> bool {
        let hit = self.set.contains(ip);
        if hit {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }
}

/// What `allow` and `deny` say of one address: refused when there are `allow` lists and
/// it is in none of them, or when it is in a `deny` list. The refusal names its cause
/// (`not-allowed`, or `denied:NAME`).
pub fn refusal(allow: &[Arc<IpList>], deny: &[Arc<IpList>], ip: IpAddr) -> Option<String> {
    if !allow.is_empty() && !allow.iter().any(|l| l.matches(ip)) {
        return Some("not-allowed".into());
    }
    deny.iter().find(|l| l.matches(ip)).map(|l| format!("denied:{}", l.name))
}
