//! The process's bans: the active ones and the rules with their strike counts, kept across
//! reloads (a rule a reload keeps with the same window keeps its strikes; bans stay
//! whatever the reload does), kept on disk for the next start (`kept`), and shared through
//! Redis when `[redis]` is configured (`shared`). One thread drops expired bans and quiet
//! clients' strikes every second, and writes the bans to disk when they changed.
//!
//! With Redis, the copy on disk serves a start that cannot reach it: the bans read back
//! are provisional, in force until Redis first answers, then kept only where Redis still
//! holds them (one it lacks was lifted, or ended, elsewhere meanwhile); one this instance
//! makes or hears of in the meantime is no longer provisional, so none announced between
//! Redis's answer and the sorting is dropped.
use super::kept;
use super::rule::{Rule, RuleSpec};
use super::shared;
use super::table::{BanTable, BanView, Source};
use crate::address_key::{address_key, describe};
use forecourt_proxy::LONGEST_DURATION;
use forecourt_redis::Redis;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

/// What one strike did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strike {
    /// Counted; the client is under the rule's count.
    Counted,
    /// It reached the count: banned.
    Banned,
    /// It reached the count of a rule in a dry run: logged and counted, not banned.
    WouldBan,
}

pub struct Bans {
    table: BanTable,
    rules: Mutex<BTreeMap<String, Arc<Rule>>>,
    /// Bits of an IPv6 address that name a client (`[bans] ipv6_prefix`).
    ipv6_prefix: AtomicU8,
    /// How long a ban added through the admin API lasts when it does not say, in seconds.
    default_secs: AtomicU64,
    /// Requests refused because their client was banned.
    pub refused_requests: AtomicU64,
    /// Bans added through the admin API.
    pub added_by_api: AtomicU64,
    sweeper: Mutex<bool>,
    /// The running config has `[bans]` (when not, nothing checks the bans).
    enabled: AtomicBool,
    /// Where bans are shared (`[redis]`), if anywhere.
    shared: Mutex<Option<Arc<Redis>>>,
    /// This process among those sharing Redis (its own announcements come back to it).
    instance: u64,
    /// Where the bans are kept on disk, and what was written there.
    kept: Mutex<KeptOnDisk>,
    /// The clients of bans read back from disk at a start with `[redis]`, until Redis first
    /// answers (`None` then, and without Redis).
    provisional: Mutex<Option<HashSet<u128>>>,
    /// The epoch of the Redis the bans were last shared through (`shared.rs`): read back
    /// from disk at a start, then Redis's answer each time it comes up.
    epoch: Mutex<Option<String>>,
}

#[derive(Default)]
struct KeptOnDisk {
    path: Option<PathBuf>,
    /// The table's `changes` when it was last written there (`None`: not yet).
    written: Option<u64>,
    /// The last write failed (said once, until one succeeds).
    failing: bool,
}

impl Default for Bans {
    fn default() -> Bans {
        Bans {
            table: BanTable::default(),
            rules: Mutex::default(),
            ipv6_prefix: AtomicU8::new(64),
            default_secs: AtomicU64::new(600),
            refused_requests: AtomicU64::new(0),
            added_by_api: AtomicU64::new(0),
            sweeper: Mutex::new(false),
            enabled: AtomicBool::new(false),
            shared: Mutex::new(None),
            instance: RandomState::new().hash_one(std::process::id()),
            kept: Mutex::default(),
            provisional: Mutex::default(),
            epoch: Mutex::default(),
        }
    }
}

impl Bans {
    /// The rule `name` as `spec` says: the running one when it is the same; else a new
    /// one, on the running one's strikes where they mean the same to it
    /// (`RuleSpec::keeps_strikes`). Nothing changes until [`Bans::commit`].
    pub fn prepare(&self, name: &str, spec: RuleSpec) -> Arc<Rule> {
        match self.rules.lock().unwrap().get(name) {
            Some(running) if running.spec == spec => running.clone(),
            Some(running) if running.spec.keeps_strikes(&spec) => {
                Arc::new(Rule::with_strikes(name, spec, running.strikes.clone()))
            }
            _ => Arc::new(Rule::new(name, spec)),
        }
    }

    /// A config that compiled: its rules and settings are the running ones now, and the
    /// bans are kept at `keep` (read from there first, the first time it is named).
    pub fn commit(
        self: &Arc<Self>,
        rules: Vec<Arc<Rule>>,
        ipv6_prefix: u8,
        default_duration: Duration,
        redis: Option<Arc<Redis>>,
        keep: Option<PathBuf>,
    ) {
        *self.rules.lock().unwrap() = rules.into_iter().map(|r| (r.name.clone(), r)).collect();
        self.ipv6_prefix.store(ipv6_prefix, Ordering::Relaxed);
        self.default_secs.store(default_duration.as_secs().max(1), Ordering::Relaxed);
        // Read back before Redis is followed: its first answer sorts what was read.
        self.keep_at(keep, redis.is_some());
        self.share_through(redis);
        self.enabled.store(true, Ordering::Relaxed);
        self.start_sweeper();
    }

    /// Keeps the bans at `path` from now on, first taking in the bans kept there (a
    /// start, or a reload naming another folder): `provisional` ones with `[redis]`, whose
    /// first answer decides which of them still hold; they are not announced.
    fn keep_at(&self, path: Option<PathBuf>, provisional: bool) {
        let mut kept = self.kept.lock().unwrap();
        if kept.path == path {
            return;
        }
        if let Some(path) = &path {
            match kept::read(path, SystemTime::now()) {
                Ok(read) => {
                    let keys = read
                        .bans
                        .iter()
                        .filter_map(|ban| self.ban_locally(&ban.address, ban.remaining, ban.source.clone()));
                    let keys: HashSet<u128> = keys.collect();
                    if provisional {
                        *self.provisional.lock().unwrap() = Some(keys);
                        *self.epoch.lock().unwrap() = read.epoch.clone();
                    }
                    if read.bans.len() + read.expired + read.bad > 0 {
                        tracing::info!(path = %path.display(), in_force = read.bans.len(), expired = read.expired,
                            damaged = read.bad, "bans read back");
                    }
                }
                Err(why) => tracing::warn!("the bans kept on disk were not read back: {why}"),
            }
        }
        // Written at the next sweep: what was read, less what expired or was damaged, and
        // the bans made before (in another folder, or before `[bans]` came back).
        kept.written = None;
        kept.path = path;
    }

    /// Writes the bans to disk if they changed since they were last written (each second,
    /// and once more as the process stops).
    pub fn keep_on_disk(&self) {
        let mut kept = self.kept.lock().unwrap();
        let changes = self.table.changes();
        let Some(path) = kept.path.clone().filter(|_| kept.written != Some(changes)) else { return };
        let epoch = self.epoch.lock().unwrap().clone();
        match kept::write(&path, &self.list(), epoch.as_deref()) {
            Ok(()) => {
                kept.written = Some(changes);
                kept.failing = false;
            }
            Err(e) if !kept.failing => {
                kept.failing = true;
                tracing::warn!(path = %path.display(), "cannot keep the bans on disk (they hold until a restart): {e}");
            }
            Err(_) => {}
        }
    }

    /// The running config has no `[bans]`: its rules are gone, the bans are kept (a reload
    /// that brings `[bans]` back enforces them again).
    pub fn disable(self: &Arc<Self>) {
        self.share_through(None);
        self.rules.lock().unwrap().clear();
        self.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether the running config has `[bans]`.
    /// The prefix IPv6 clients are banned by (the `[global]` grouping for keys).
    pub fn ipv6_prefix(&self) -> u8 {
        self.ipv6_prefix.load(Ordering::Relaxed)
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub fn rules(&self) -> Vec<Arc<Rule>> {
        self.rules.lock().unwrap().values().cloned().collect()
    }

    fn key(&self, client: IpAddr) -> u128 {
        address_key(client, self.ipv6_prefix.load(Ordering::Relaxed))
    }

    pub fn is_banned(&self, client: IpAddr) -> bool {
        self.table.is_banned(self.key(client))
    }

    /// Bans `client` (its IPv6 prefix) for `duration`, or the configured default; whether
    /// it was not banned before.
    pub fn ban(&self, client: IpAddr, duration: Option<Duration>, source: Source) -> bool {
        // Bounded here, where this instance's bans enter, so that the one kept and the one
        // announced (in milliseconds, which a longer one would wrap) are the same.
        let duration = duration.unwrap_or(Duration::from_secs(self.default_secs.load(Ordering::Relaxed)));
        let duration = duration.min(LONGEST_DURATION);
        let address = describe(client, self.ipv6_prefix.load(Ordering::Relaxed));
        if let Some(redis) = self.redis() {
            shared::announce_ban(&redis, self.instance, &address, duration, &source);
        }
        let key = self.key(client);
        self.confirm(key);
        self.table.add(key, address, duration, source)
    }

    /// A ban another instance made (`address` as it wrote it), listed as this instance
    /// names what it bans: the client's address, or its IPv6 prefix (`2001:db8::1/200`
    /// written by hand is listed as the /64 it bans here). Its client's key, if `address`
    /// names one.
    fn ban_locally(&self, address: &str, duration: Duration, source: Source) -> Option<u128> {
        let client = shared::client_of(address)?;
        let listed = describe(client, self.ipv6_prefix.load(Ordering::Relaxed));
        let key = self.key(client);
        self.confirm(key);
        self.table.add(key, listed, duration, source);
        Some(key)
    }

    /// A ban on `key` made or heard of now: no longer provisional. Before the table
    /// changes, so that `take_in`'s drop (under the same lock) either comes first and
    /// the ban is added again, or finds it confirmed.
    fn confirm(&self, key: u128) {
        if let Some(provisional) = self.provisional.lock().unwrap().as_mut() {
            provisional.remove(&key);
        }
    }

    fn redis(&self) -> Option<Arc<Redis>> {
        self.shared.lock().unwrap().clone()
    }

    /// Shares bans through `redis` from now on (following its announcements), or not.
    fn share_through(self: &Arc<Self>, redis: Option<Arc<Redis>>) {
        let mut shared = self.shared.lock().unwrap();
        if !forecourt_redis::same(shared.as_ref(), redis.as_ref()) {
            if let Some(redis) = &redis {
                self.follow(redis);
            } else {
                // Without Redis, what was read back is simply this instance's.
                *self.provisional.lock().unwrap() = None;
            }
            *shared = redis;
        }
    }

    /// Counts a strike of `rule` against `client`; whether that banned it (or, in a dry
    /// run, would have).
    pub fn strike(&self, rule: &Rule, client: IpAddr) -> Strike {
        if !rule.strikes.strike(self.key(client), rule.spec.count) {
            return Strike::Counted;
        }
        if rule.spec.dry_run {
            rule.would_have_banned.fetch_add(1, Ordering::Relaxed);
            return Strike::WouldBan;
        }
        rule.tripped.fetch_add(1, Ordering::Relaxed);
        self.ban(client, Some(rule.spec.duration), Source::Rule(rule.name.clone()));
        Strike::Banned
    }

    /// Lifts the ban on `client` here and, when shared, everywhere.
    pub fn lift(&self, client: IpAddr) -> bool {
        if let Some(redis) = self.redis() {
            let address = describe(client, self.ipv6_prefix.load(Ordering::Relaxed));
            shared::announce_lift(&redis, self.instance, &address);
        }
        self.table.lift(self.key(client))
    }

    pub fn list(&self) -> Vec<BanView> {
        self.table.list()
    }

    pub fn active(&self) -> usize {
        self.table.active()
    }

    /// Follows `redis`: its announcements, and a resynchronisation each time it comes up.
    fn follow(self: &Arc<Self>, redis: &Arc<Redis>) {
        let bans: Weak<Bans> = Arc::downgrade(self);
        redis.subscribe(
            "bans",
            Box::new(move |payload| {
                let message = std::str::from_utf8(payload).ok().and_then(shared::Message::parse);
                if let (Some(bans), Some(message)) = (bans.upgrade(), message) {
                    bans.apply(message);
                }
            }),
        );
        let bans: Weak<Bans> = Arc::downgrade(self);
        redis.on_up(Box::new(move |redis| {
            if let Some(bans) = bans.upgrade() {
                tokio::spawn(bans.resync(redis));
            }
        }));
    }

    /// Applies another instance's announcement.
    fn apply(&self, message: shared::Message<'_>) {
        match message {
            shared::Message::Ban { from, .. } | shared::Message::Lift { from, .. } if from == self.instance => {}
            shared::Message::Ban { duration, address, source, .. } => {
                self.ban_locally(address, duration, Source::Shared(source.to_owned()));
            }
            shared::Message::Lift { address, .. } => {
                if let Some(client) = shared::client_of(address) {
                    self.confirm(self.key(client));
                    self.table.lift(self.key(client));
                }
            }
        }
    }

    /// Reads every shared ban, and writes this instance's own (those it made while Redis
    /// was away among them; not those read back from disk, which Redis's answer sorts). A
    /// Redis that lost the bans (another epoch than the one last seen here, or on disk)
    /// is written every ban this instance holds, as HAProxy's peers teach a restarted peer
    /// their stick tables: what was read back from disk is then kept, not lifted.
    async fn resync(self: Arc<Self>, redis: Arc<Redis>) {
        let proposed = format!("{:x}-{}", self.instance, unix_ms());
        let answer = shared::read_all(&redis, &proposed).await;
        let lost = answer.as_ref().is_some_and(|a| self.epoch.lock().unwrap().as_ref().is_some_and(|e| *e != a.epoch));
        if lost {
            *self.provisional.lock().unwrap() = None;
        }
        let provisional = self.provisional.lock().unwrap().clone().unwrap_or_default();
        let mut restored = 0;
        for ban in self.list() {
            let read_back = shared::client_of(&ban.address).is_some_and(|c| provisional.contains(&self.key(c)));
            if !matches!(ban.source, Source::Shared(_)) && !read_back {
                shared::announce_ban(&redis, self.instance, &ban.address, ban.remaining, &ban.source);
            } else if lost {
                shared::restore_ban(&redis, &ban.address, ban.remaining, &ban.source);
                restored += 1;
            }
        }
        if lost {
            tracing::warn!(
                written_back = restored,
                "Redis has lost the shared bans (restarted without its data, flushed, or another server): \
                 the bans held here are written back"
            );
        }
        // Unanswered: what was read back stays provisional until the next time.
        if let Some(answer) = answer {
            *self.epoch.lock().unwrap() = Some(answer.epoch);
            // The file names the epoch at the next sweep.
            self.kept.lock().unwrap().written = None;
            self.take_in(answer.bans);
        }
    }

    /// Every ban Redis holds, as it answered; then the bans read back from disk that it
    /// lacks and nothing confirmed since are lifted here.
    fn take_in(&self, all: Vec<shared::SharedBan>) {
        for ban in all {
            self.ban_locally(&ban.address, ban.remaining, Source::Shared(ban.source));
        }
        let mut provisional = self.provisional.lock().unwrap();
        let gone = provisional.take().unwrap_or_default();
        for key in &gone {
            self.table.lift(*key);
        }
        if !gone.is_empty() {
            tracing::info!(lifted = gone.len(), "bans read back from disk that Redis no longer holds are lifted");
        }
    }

    fn start_sweeper(self: &Arc<Self>) {
        let mut started = self.sweeper.lock().unwrap();
        if *started {
            return;
        }
        let bans: Weak<Bans> = Arc::downgrade(self);
        *started = std::thread::Builder::new()
            .name("ban-sweeper".into())
            .spawn(move || loop {
                std::thread::sleep(Duration::from_secs(1));
                let Some(bans) = bans.upgrade() else { return };
                bans.table.sweep();
                for rule in bans.rules() {
                    rule.strikes.sweep();
                }
                bans.keep_on_disk();
            })
            .is_ok();
    }
}

/// Milliseconds since the Unix epoch (for an epoch's name: unique with the instance's).
fn unix_ms() -> u128 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::Trigger;

    /// Two 404s within a minute ban for a minute.
    fn four_oh_fours(dry_run: bool) -> RuleSpec {
        RuleSpec {
            on: vec![Trigger::Status { from: 404, to: 404 }],
            count: 2,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(60),
            max_keys: 100,
            dry_run,
        }
    }

    #[test]
    fn a_tripped_rule_bans_the_clients_prefix_and_a_kept_rule_keeps_its_strikes() {
        let bans = Arc::new(Bans::default());
        let spec = four_oh_fours(false);
        let rule = bans.prepare("scan", spec.clone());
        bans.commit(vec![rule.clone()], 64, Duration::from_secs(60), None, None);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(bans.strike(&rule, a), Strike::Counted);
        let kept = bans.prepare("scan", spec);
        assert!(Arc::ptr_eq(&kept, &rule));
        assert_eq!(bans.strike(&kept, "2001:db8::2".parse().unwrap()), Strike::Banned, "same /64");
        assert!(bans.is_banned(a) && !bans.is_banned("2001:db8:0:1::1".parse().unwrap()));
        let listed = bans.list();
        assert_eq!((listed[0].address.as_str(), &listed[0].source), ("2001:db8::/64", &Source::Rule("scan".into())));
        assert!(bans.lift("2001:db8::9".parse().unwrap()) && !bans.is_banned(a));
    }

    /// A fresh folder `name` under the temporary one, its bans file, and an instance that
    /// keeps its bans there (without Redis).
    fn keeping_bans_in(name: &str) -> (PathBuf, PathBuf, Arc<Bans>) {
        let dir = std::env::temp_dir().join(format!("forecourt-bans-{name}-{}", std::process::id()));
        let file = dir.join("bans");
        let _ = std::fs::remove_dir_all(&dir);
        let bans = Arc::new(Bans::default());
        bans.commit(Vec::new(), 64, Duration::from_secs(60), None, Some(file.clone()));
        (dir, file, bans)
    }

    #[test]
    fn bans_kept_on_disk_are_read_back() {
        let (dir, file, first) = keeping_bans_in("registry");
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        first.ban(client, None, Source::Api("abuse".into()));
        first.keep_on_disk();
        let next = Arc::new(Bans::default());
        next.commit(Vec::new(), 64, Duration::from_secs(60), None, Some(file.clone()));
        assert!(next.is_banned(client));
        assert_eq!(next.list()[0].source, Source::Api("abuse".into()));
        assert!(next.provisional.lock().unwrap().is_none(), "without Redis, simply this instance's");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// With Redis, bans read back hold until its first answer; then those it lacks go,
    /// unless this instance made or heard of one for the client meanwhile.
    #[test]
    fn bans_read_back_with_redis_hold_until_its_answer_keeps_or_drops_them() {
        let (dir, file, first) = keeping_bans_in("provisional");
        let [held, lifted, heard, made]: [IpAddr; 4] =
            ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"].map(|a| a.parse().unwrap());
        for client in [held, lifted, heard, made] {
            first.ban(client, None, Source::Api(String::new()));
        }
        first.keep_on_disk();
        let next = Arc::new(Bans::default());
        next.keep_at(Some(file.clone()), true);
        assert!([held, lifted, heard, made].iter().all(|c| next.is_banned(*c)), "in force before Redis answers");
        // Meanwhile another instance's ban of one is heard, and this one bans another.
        next.apply(shared::Message::parse("ban 99 60000 192.0.2.3 rule:scan").unwrap());
        next.ban(made, None, Source::Api(String::new()));
        // Redis answers: it holds only the first.
        let answer = vec![shared::SharedBan {
            address: "192.0.2.1".into(),
            remaining: Duration::from_secs(50),
            source: "api".into(),
        }];
        next.take_in(answer);
        assert!(next.is_banned(held), "Redis holds it");
        assert!(!next.is_banned(lifted), "lifted elsewhere while this instance was away");
        assert!(next.is_banned(heard) && next.is_banned(made), "confirmed meanwhile");
        assert!(next.provisional.lock().unwrap().is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn another_instances_ban_is_listed_as_what_it_bans_here() {
        let bans = Arc::new(Bans::default());
        bans.commit(Vec::new(), 64, Duration::from_secs(60), None, None);
        for (written, listed) in
            [("2001:db8::1/200", "2001:db8::/64"), ("10.0.0.7/8", "10.0.0.7"), ("::ffff:10.0.0.8", "10.0.0.8")]
        {
            let message = format!("ban 99 60000 {written} rule:scan");
            bans.apply(shared::Message::parse(&message).unwrap());
            let all = bans.list();
            assert!(
                all.iter().any(|b| b.address == listed),
                "{written}: {:?}",
                all.iter().map(|b| &b.address).collect::<Vec<_>>()
            );
        }
        assert!(bans.is_banned("2001:db8::2".parse().unwrap()) && bans.is_banned("10.0.0.7".parse().unwrap()));
        assert!(!bans.is_banned("10.0.0.9".parse().unwrap()), "an address, not the /8 it was written with");
    }

    #[test]
    fn a_rule_in_a_dry_run_says_whom_it_would_ban_and_bans_nobody() {
        let bans = Arc::new(Bans::default());
        let spec = four_oh_fours(true);
        let rule = bans.prepare("scan", spec);
        bans.commit(vec![rule.clone()], 64, Duration::from_secs(60), None, None);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let strikes: Vec<Strike> = (0..4).map(|_| bans.strike(&rule, a)).collect();
        assert_eq!(strikes, [Strike::Counted, Strike::WouldBan, Strike::Counted, Strike::WouldBan]);
        assert!(!bans.is_banned(a) && bans.list().is_empty());
        let counts = [&rule.tripped, &rule.would_have_banned].map(|c| c.load(Ordering::Relaxed));
        assert_eq!(counts, [0, 2]);
        // Turned off by a reload, the rule bans from the strikes it watched.
        assert_eq!(bans.strike(&rule, a), Strike::Counted);
        let enforced = bans.prepare("scan", four_oh_fours(false));
        bans.commit(vec![enforced.clone()], 64, Duration::from_secs(60), None, None);
        assert_eq!(bans.strike(&enforced, a), Strike::Banned, "the watched strike counts");
        // Another window: the strikes were counted over another span; they start afresh.
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(bans.strike(&enforced, b), Strike::Counted);
        let wider = bans.prepare("scan", RuleSpec { window: Duration::from_secs(120), ..four_oh_fours(false) });
        assert_eq!(bans.strike(&wider, b), Strike::Counted, "a changed window starts afresh");
    }
}
