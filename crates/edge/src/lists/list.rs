//! A named list (`[lists.NAME]`) as loaded: its inline and file entries, and, when it has a
//! `url`, the feed's latest good copy merged in; with `countries` or `asns`, the
//! addresses GeoIP places there too. The merged set is swapped whole when the
//! feed changes, so a lookup sees the old set or the new one, never half of each.
use super::feed::Feed;
use super::set::IpSet;
use crate::geoip::Geo;
use arc_swap::{ArcSwap, Guard};
use forecourt_proxy::cidr::{AddressSet, Cidr};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct IpList {
    pub name: String,
    set: ArcSwap<IpSet>,
    /// The inline and file entries (what a feed's copy is merged with).
    base: Vec<Cidr>,
    pub feed: Option<Arc<Feed>>,
    /// Countries and networks (by GeoIP) the list holds besides its addresses.
    pub places: Option<Places>,
    /// Which of the feed's copies `set` holds.
    built_from: AtomicU64,
    /// Connections or requests it matched.
    pub hits: AtomicU64,
}

/// A list's `countries` and `asns`, and the databases that place an address.
pub struct Places {
    pub geo: Arc<Geo>,
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: Vec<[u8; 2]>,
    pub asns: Vec<u32>,
}

impl Places {
    fn hold(&self, ip: IpAddr) -> bool {
        let place = self.geo.lookup(ip);
        place.country.is_some_and(|c| self.countries.contains(&c)) || place.asn.is_some_and(|a| self.asns.contains(&a))
    }
}

impl IpList {
    pub fn new(name: &str, set: IpSet) -> IpList {
        IpList::build(name, set, Vec::new(), None, 0)
    }

    /// A list of `base` and, when given, `feed`'s latest good copy.
    pub fn with_feed(name: &str, base: Vec<Cidr>, feed: Option<Arc<Feed>>) -> IpList {
        let (set, generation) = merged(&base, feed.as_deref());
        IpList::build(name, set, base, feed, generation)
    }

    /// The list holds the addresses placed in `places` too.
    pub fn with_places(mut self, places: Option<Places>) -> IpList {
        self.places = places;
        self
    }

    fn build(name: &str, set: IpSet, base: Vec<Cidr>, feed: Option<Arc<Feed>>, generation: u64) -> IpList {
        IpList {
            name: name.to_owned(),
            set: ArcSwap::from_pointee(set),
            base,
            feed,
            places: None,
            built_from: AtomicU64::new(generation),
            hits: AtomicU64::new(0),
        }
    }

    /// Whether `ip` is in the list (counted when it is).
    pub fn matches(&self, ip: IpAddr) -> bool {
        let hit = self.holds(ip);
        if hit {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Whether `ip` is in the list, uncounted.
    fn holds(&self, ip: IpAddr) -> bool {
        self.set.load().contains(ip) || self.places.as_ref().is_some_and(|p| p.hold(ip))
    }

    pub fn set(&self) -> Guard<Arc<IpSet>> {
        self.set.load()
    }

    /// Merges the feed's copy in again if it changed since the set was built; whether it
    /// did.
    pub fn catch_up(&self) -> bool {
        let Some(feed) = &self.feed else { return false };
        if feed.generation() == self.built_from.load(Ordering::Relaxed) {
            return false;
        }
        let (set, generation) = merged(&self.base, Some(feed));
        self.set.store(Arc::new(set));
        self.built_from.store(generation, Ordering::Relaxed);
        true
    }
}

/// A list named in `trusted_proxies` (a CDN's ranges from its feed). Not counted in
/// `hits`: a request is looked up several times (its peer, each hop of its chain), and
/// behind a CDN every request would bump one counter that every worker shares.
impl AddressSet for IpList {
    fn contains(&self, ip: IpAddr) -> bool {
        self.holds(ip)
    }
}

fn merged(base: &[Cidr], feed: Option<&Feed>) -> (IpSet, u64) {
    match feed {
        None => (IpSet::new(base), 0),
        Some(feed) => {
            let (copy, generation) = feed.copy();
            let mut all = base.to_vec();
            all.extend_from_slice(&copy);
            (IpSet::new(&all), generation)
        }
    }
}

/// Whether `ip` is in one of `lists` (an exemption's lists, a rule's).
pub fn in_any(lists: &[Arc<IpList>], ip: IpAddr) -> bool {
    lists.iter().any(|l| l.matches(ip))
}

/// What `allow` and `deny` say of one address: refused when there are `allow` lists and
/// it is in none of them, or when it is in a `deny` list. The refusal names its cause
/// (`not-allowed`, or `denied:NAME`).
pub fn refusal(allow: &[Arc<IpList>], deny: &[Arc<IpList>], ip: IpAddr) -> Option<String> {
    if !allow.is_empty() && !in_any(allow, ip) {
        return Some("not-allowed".into());
    }
    deny.iter().find(|l| l.matches(ip)).map(|l| format!("denied:{}", l.name))
}
