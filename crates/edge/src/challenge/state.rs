//! What challenges keep across reloads: the signing keys (passes stay good through a
//! reload), the puzzles redeemed, the "under attack" switch and the counters. With
//! `[redis]`, the secret the keys derive from is the one stored there (the first
//! instance to come up writes it), so that a pass earned through one instance is good at
//! every other. The secret is kept on disk too (`kept`): passes outlive restarts; so is
//! the switch the admin API set.
use super::kept::{self, from_text, to_text};
use super::keys::Keys;
use super::redeemed::Redeemed;
use forecourt_redis::Redis;
use redis::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

pub struct Challenges {
    pub keys: Keys,
    pub redeemed: Redeemed,
    /// Every visitor without a pass is challenged (config or admin API).
    under_attack: AtomicBool,
    /// What the running config says of `under_attack`: a reload that changes it sets the
    /// switch; one that does not leaves what the admin API set.
    configured: Mutex<Option<bool>>,
    shared: Mutex<Option<Arc<Redis>>>,
    /// The folder (`data_dir`) where the secret and the API's switch are kept.
    kept: Mutex<Option<PathBuf>>,
    /// The running config has challenges (`[challenge]`, or something that uses one).
    enabled: AtomicBool,
    pub issued: AtomicU64,
    pub passed: AtomicU64,
    pub failed: AtomicU64,
    /// Requests let through because their pass held.
    pub admitted: AtomicU64,
}

impl Default for Challenges {
    fn default() -> Challenges {
        Challenges {
            keys: Keys::random(),
            redeemed: Redeemed::new(200_000),
            under_attack: AtomicBool::new(false),
            configured: Mutex::new(None),
            shared: Mutex::new(None),
            kept: Mutex::new(None),
            enabled: AtomicBool::new(false),
            issued: AtomicU64::new(0),
            passed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
        }
    }
}

impl Challenges {
    pub fn under_attack(&self) -> bool {
        self.under_attack.load(Ordering::Relaxed)
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// The running config has no challenges: nothing is challenged, passes stay good for
    /// a reload that brings them back.
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }

    fn set_under_attack(&self, on: bool) {
        self.under_attack.store(on, Ordering::Relaxed);
    }

    /// The admin API's switch, kept on disk with what the config says meanwhile: a
    /// restart keeps it while the config says the same (as a reload does).
    pub fn switch_under_attack(&self, on: bool) {
        self.set_under_attack(on);
        let configured = self.configured.lock().unwrap().unwrap_or(false);
        let folder = self.kept.lock().unwrap().clone();
        if let Some(Err(e)) = folder.map(|f| kept::write_switch(&f, on, configured)) {
            tracing::warn!("the \"under attack\" switch holds until a restart: cannot keep it on disk: {e}");
        }
    }

    /// A config that compiled: its key period, its `under_attack` (when it changed), the
    /// folder where the secret and the API's switch are kept (`keep`: the secret read from
    /// there, or written there, the first time it is named) and where it is shared.
    pub fn commit(
        self: &Arc<Self>,
        rotate_secs: u64,
        under_attack: bool,
        redis: Option<Arc<Redis>>,
        keep: Option<PathBuf>,
    ) {
        self.keys.set_rotation(rotate_secs);
        self.keep_at(keep.clone());
        self.enabled.store(true, Ordering::Relaxed);
        let mut configured = self.configured.lock().unwrap();
        // The process's first config: the API's switch before the restart, if the config
        // says what it said then.
        let kept_switch =
            keep.as_ref().filter(|_| configured.is_none()).and_then(|f| kept::read_switch(f, under_attack));
        if let Some(on) = kept_switch {
            self.set_under_attack(on);
            *configured = Some(under_attack);
            tracing::info!(under_attack = on, "the \"under attack\" switch is where the admin API left it");
        }
        if *configured != Some(under_attack) {
            // The config's word: what the API said before is over, after a restart too.
            self.set_under_attack(under_attack);
            *configured = Some(under_attack);
            if let Some(folder) = &keep {
                kept::forget_switch(folder);
            }
        }
        let mut shared = self.shared.lock().unwrap();
        if !forecourt_redis::same(shared.as_ref(), redis.as_ref()) {
            if let Some(redis) = &redis {
                self.follow(redis);
            }
            *shared = redis;
        }
    }

    /// Takes the secret kept in `folder` (writing this process's there when there is
    /// none); one that cannot be read or written leaves the process's own, said.
    fn keep_at(&self, folder: Option<PathBuf>) {
        let mut kept = self.kept.lock().unwrap();
        if *kept == folder {
            return;
        }
        if let Some(folder) = &folder {
            match kept::load_or_create(&kept::secret_path(folder), self.keys.secret()) {
                Ok(secret) => {
                    self.keys.set_secret(secret);
                }
                Err(why) => tracing::warn!("challenge passes will not outlive a restart: {why}"),
            }
        }
        *kept = folder;
    }

    /// Each time `redis` comes up: take the shared secret (writing ours if there is none).
    fn follow(self: &Arc<Self>, redis: &Arc<Redis>) {
        let me: Weak<Challenges> = Arc::downgrade(self);
        redis.on_up(Box::new(move |redis| {
            if let Some(me) = me.upgrade() {
                tokio::spawn(async move { me.take_shared_secret(&redis).await });
            }
        }));
    }

    async fn take_shared_secret(&self, redis: &Redis) {
        let key = redis.key("challenge:secret");
        // Ours is the one kept on disk: passes earned before Redis was shared stay good.
        let mine = to_text(&self.keys.secret());
        let _ = redis.query(redis::cmd("SET").arg(&key).arg(&mine).arg("NX").clone()).await;
        let secret = match redis.query(redis::cmd("GET").arg(&key).clone()).await {
            Ok(Value::BulkString(bytes)) => from_text(&bytes),
            _ => None,
        };
        match secret {
            Some(secret) if self.keys.set_secret(secret) => {
                tracing::info!("challenge passes are signed with the secret shared through Redis");
                let folder = self.kept.lock().unwrap().clone();
                if let Some(Err(e)) = folder.map(|f| kept::replace(&kept::secret_path(&f), &secret)) {
                    tracing::warn!("cannot keep the shared challenge secret on disk: {e}");
                }
            }
            Some(_) => {}
            None => tracing::warn!("no challenge secret could be read from Redis; passes hold on this instance only"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_sets_the_switch_only_when_the_config_changes_it() {
        let c = Arc::new(Challenges::default());
        c.commit(3600, false, None, None);
        c.switch_under_attack(true);
        c.commit(3600, false, None, None);
        assert!(c.under_attack(), "the admin API's word stands over an unchanged config");
        c.commit(3600, true, None, None);
        c.switch_under_attack(false);
        c.commit(60, false, None, None);
        assert!(!c.under_attack());
        assert_eq!(c.keys.rotation_secs(), 60);
    }
}
