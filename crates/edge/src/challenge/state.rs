//! What challenges keep across reloads: the signing keys (passes stay good through a
//! reload), the puzzles redeemed, the "under attack" switch and the counters. With
//! `[redis]`, the secret the keys derive from is the one stored there (the first
//! instance to come up writes it), so that a pass earned through one instance is good at
//! every other. The secret is kept on disk too (`kept_secret`): passes outlive restarts.
use super::kept_secret::{self, from_text, to_text};
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
    /// Where the secret is kept on disk.
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

    /// The admin API's switch.
    pub fn set_under_attack(&self, on: bool) {
        self.under_attack.store(on, Ordering::Relaxed);
    }

    /// A config that compiled: its key period, its `under_attack` (when it changed), where
    /// the secret is kept (`keep`: read from there, or written there, the first time it is
    /// named) and where it is shared.
    pub fn commit(
        self: &Arc<Self>,
        rotate_secs: u64,
        under_attack: bool,
        redis: Option<Arc<Redis>>,
        keep: Option<PathBuf>,
    ) {
        self.keys.set_rotation(rotate_secs);
        self.keep_at(keep);
        self.enabled.store(true, Ordering::Relaxed);
        let mut configured = self.configured.lock().unwrap();
        if *configured != Some(under_attack) {
            self.set_under_attack(under_attack);
            *configured = Some(under_attack);
        }
        let mut shared = self.shared.lock().unwrap();
        if !forecourt_redis::same(shared.as_ref(), redis.as_ref()) {
            if let Some(redis) = &redis {
                self.follow(redis);
            }
            *shared = redis;
        }
    }

    /// Takes the secret kept at `path` (writing this process's there when there is
    /// none); one that cannot be read or written leaves the process's own, said.
    fn keep_at(&self, path: Option<PathBuf>) {
        let mut kept = self.kept.lock().unwrap();
        if *kept == path {
            return;
        }
        if let Some(path) = &path {
            match kept_secret::load_or_create(path, self.keys.secret()) {
                Ok(secret) => {
                    self.keys.set_secret(secret);
                }
                Err(why) => tracing::warn!("challenge passes will not outlive a restart: {why}"),
            }
        }
        *kept = path;
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
                let kept = self.kept.lock().unwrap().clone();
                if let Some(Err(e)) = kept.map(|path| kept_secret::replace(&path, &secret)) {
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
        c.set_under_attack(true);
        c.commit(3600, false, None, None);
        assert!(c.under_attack(), "the admin API's word stands over an unchanged config");
        c.commit(3600, true, None, None);
        c.set_under_attack(false);
        c.commit(60, false, None, None);
        assert!(!c.under_attack());
        assert_eq!(c.keys.rotation_secs(), 60);
    }
}
