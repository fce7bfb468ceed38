//! The active bans: a client key (see `address_key`) and until when. Looked up on every
//! request and new connection while any ban is active, so the check is one atomic load
//! when there are none and a shared read lock when there are. Expired bans are dropped by
//! the registry's sweep (and ignored until then).
use forecourt_proxy::LONGEST_DURATION;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime};

/// Who banned a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `[bans.rules.NAME]` it tripped.
    Rule(String),
    /// `POST /api/bans`, with the operator's reason (if any).
    Api(String),
    /// Another instance, through Redis.
    Shared(String),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Rule(name) => format!("rule:{name}"),
            Source::Api(why) if why.is_empty() => "api".into(),
            Source::Api(why) => format!("api:{why}"),
            Source::Shared(why) => why.clone(),
        }
    }
}

struct Ban {
    address: String,
    until: Instant,
    expires: SystemTime,
    source: Source,
}

/// A ban as the admin API lists it.
#[derive(Clone, Debug)]
pub struct BanView {
    pub address: String,
    /// Seconds since the Unix epoch.
    pub expires: u64,
    pub remaining: Duration,
    pub source: Source,
}

#[derive(Default)]
pub struct BanTable {
    bans: RwLock<HashMap<u128, Ban>>,
    /// How many entries `bans` holds (expired ones too, until swept): the lookup's fast
    /// path when it is zero.
    entries: AtomicUsize,
    /// Counts the changes (a ban added or lengthened, lifted, swept): what is kept on
    /// disk is written again when it moved.
    changes: AtomicU64,
}

impl BanTable {
    /// Whether `key` is banned now.
    pub fn is_banned(&self, key: u128) -> bool {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.bans.read().unwrap().get(&key).is_some_and(|b| b.until > Instant::now())
    }

    /// Bans `key` (written `address`) for `duration`; a longer ban already in place stays.
    /// Whether the key was not banned before.
    pub fn add(&self, key: u128, address: String, duration: Duration, source: Source) -> bool {
        // However it was asked for (the admin API takes any count of seconds, another
        // instance announces milliseconds), a ban ends within `LONGEST_DURATION`.
        let duration = duration.min(LONGEST_DURATION);
        let now = Instant::now();
        let ban = Ban { address, until: now + duration, expires: SystemTime::now() + duration, source };
        let mut bans = self.bans.write().unwrap();
        let new = match bans.get(&key) {
            Some(old) if old.until >= ban.until => return false,
            Some(old) => old.until <= now,
            None => true,
        };
        bans.insert(key, ban);
        self.entries.store(bans.len(), Ordering::Relaxed);
        self.changes.fetch_add(1, Ordering::Relaxed);
        new
    }

    /// Lifts the ban on `key`; whether there was one.
    pub fn lift(&self, key: u128) -> bool {
        let mut bans = self.bans.write().unwrap();
        let removed = bans.remove(&key);
        self.entries.store(bans.len(), Ordering::Relaxed);
        if removed.is_some() {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
        removed.is_some_and(|b| b.until > Instant::now())
    }

    /// How many changes there have been (see `changes`).
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// The bans in force, the longest-lasting first.
    pub fn list(&self) -> Vec<BanView> {
        let now = Instant::now();
        let mut out: Vec<BanView> = (self.bans.read().unwrap().values())
            .filter(|b| b.until > now)
            .map(|b| BanView {
                address: b.address.clone(),
                expires: b.expires.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
                remaining: b.until - now,
                source: b.source.clone(),
            })
            .collect();
        out.sort_by(|a, b| b.remaining.cmp(&a.remaining).then_with(|| a.address.cmp(&b.address)));
        out
    }

    pub fn active(&self) -> usize {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let now = Instant::now();
        self.bans.read().unwrap().values().filter(|b| b.until > now).count()
    }

    /// Drops expired bans.
    pub fn sweep(&self) {
        if self.entries.load(Ordering::Relaxed) == 0 {
            return;
        }
        let now = Instant::now();
        let mut bans = self.bans.write().unwrap();
        let before = bans.len();
        bans.retain(|_, b| b.until > now);
        if bans.len() != before {
            self.changes.fetch_add(1, Ordering::Relaxed);
        }
        self.entries.store(bans.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_start_extend_expire_and_lift() {
        let t = BanTable::default();
        assert!(!t.is_banned(7));
        assert!(t.add(7, "10.0.0.7".into(), Duration::from_millis(30), Source::Api(String::new())));
        assert!(t.is_banned(7) && !t.is_banned(8));
        assert!(!t.add(7, "10.0.0.7".into(), Duration::from_millis(10), Source::Rule("r".into())), "shorter");
        assert_eq!(t.list()[0].source, Source::Api(String::new()));
        std::thread::sleep(Duration::from_millis(40));
        assert!(!t.is_banned(7) && t.active() == 0);
        assert!(t.add(7, "10.0.0.7".into(), Duration::from_secs(60), Source::Rule("r".into())), "new again");
        assert_eq!(t.list().len(), 1);
        assert!(t.lift(7) && !t.lift(7) && !t.is_banned(7));
        t.add(9, "x".into(), Duration::from_millis(1), Source::Api(String::new()));
        std::thread::sleep(Duration::from_millis(5));
        t.sweep();
        assert_eq!(t.entries.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_ban_asked_for_longer_than_the_clock_reaches_lasts_the_longest() {
        let t = BanTable::default();
        assert!(t.add(7, "10.0.0.7".into(), Duration::from_secs(u64::MAX), Source::Api(String::new())));
        assert!(t.is_banned(7));
        let listed = &t.list()[0];
        assert!(listed.remaining > LONGEST_DURATION - Duration::from_secs(60) && listed.remaining <= LONGEST_DURATION);
    }
}
