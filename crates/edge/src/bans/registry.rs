//! The process's bans: the active ones and the rules with their strike counts, kept across
//! reloads (a rule a reload keeps as it was keeps its strikes; bans stay whatever the
//! reload does). One thread drops expired bans and quiet clients' strikes every second.
use super::rule::{Rule, RuleSpec};
use super::table::{BanTable, BanView, Source};
use crate::address_key::{address_key, describe};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

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
        }
    }
}

impl Bans {
    /// The rule `name` as `spec` says: the running one when it is the same (its strikes go
    /// on), else a new one. Nothing changes until [`Bans::commit`].
    pub fn prepare(&self, name: &str, spec: RuleSpec) -> Arc<Rule> {
        match self.rules.lock().unwrap().get(name) {
            Some(running) if running.spec == spec => running.clone(),
            _ => Arc::new(Rule::new(name, spec)),
        }
    }

    /// A config that compiled: its rules and settings are the running ones now.
    pub fn commit(self: &Arc<Self>, rules: Vec<Arc<Rule>>, ipv6_prefix: u8, default_duration: Duration) {
        *self.rules.lock().unwrap() = rules.into_iter().map(|r| (r.name.clone(), r)).collect();
        self.ipv6_prefix.store(ipv6_prefix, Ordering::Relaxed);
        self.default_secs.store(default_duration.as_secs().max(1), Ordering::Relaxed);
        self.enabled.store(true, Ordering::Relaxed);
        self.start_sweeper();
    }

    /// The running config has no `[bans]`: its rules are gone, the bans are kept (a reload
    /// that brings `[bans]` back enforces them again).
    pub fn disable(&self) {
        self.rules.lock().unwrap().clear();
        self.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether the running config has `[bans]`.
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
        let duration = duration.unwrap_or(Duration::from_secs(self.default_secs.load(Ordering::Relaxed)));
        let address = describe(client, self.ipv6_prefix.load(Ordering::Relaxed));
        self.table.add(self.key(client), address, duration, source)
    }

    /// Counts a strike of `rule` against `client`; whether that banned it.
    pub fn strike(&self, rule: &Rule, client: IpAddr) -> bool {
        if !rule.strikes.strike(self.key(client), rule.spec.count) {
            return false;
        }
        rule.tripped.fetch_add(1, Ordering::Relaxed);
        self.ban(client, Some(rule.spec.duration), Source::Rule(rule.name.clone()));
        true
    }

    pub fn lift(&self, client: IpAddr) -> bool {
        self.table.lift(self.key(client))
    }

    pub fn list(&self) -> Vec<BanView> {
        self.table.list()
    }

    pub fn active(&self) -> usize {
        self.table.active()
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
            })
            .is_ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bans::Trigger;

    #[test]
    fn a_tripped_rule_bans_the_clients_prefix_and_a_kept_rule_keeps_its_strikes() {
        let bans = Arc::new(Bans::default());
        let spec = RuleSpec {
            on: vec![Trigger::Status { from: 404, to: 404 }],
            count: 2,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(60),
            max_keys: 100,
        };
        let rule = bans.prepare("scan", spec.clone());
        bans.commit(vec![rule.clone()], 64, Duration::from_secs(60));
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(!bans.strike(&rule, a));
        let kept = bans.prepare("scan", spec);
        assert!(Arc::ptr_eq(&kept, &rule));
        assert!(bans.strike(&kept, "2001:db8::2".parse().unwrap()), "same /64");
        assert!(bans.is_banned(a) && !bans.is_banned("2001:db8:0:1::1".parse().unwrap()));
        let listed = bans.list();
        assert_eq!((listed[0].address.as_str(), &listed[0].source), ("2001:db8::/64", &Source::Rule("scan".into())));
        assert!(bans.lift("2001:db8::9".parse().unwrap()) && !bans.is_banned(a));
    }
}
