//! What challenges keep across reloads: the signing keys (passes stay good through a
//! reload), the puzzles redeemed, the "under attack" switch and the counters. With
//! `[redis]`, the secret the keys derive from is the one stored there (the first
//! instance to come up writes it), so that a pass earned through one instance is good at
//! every other.
use super::keys::{random_secret, Keys};
use super::redeemed::Redeemed;
use forecourt_redis::Redis;
use redis::Value;
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

    /// A config that compiled: its key period, its `under_attack` (when it changed) and
    /// where the secret is shared.
    pub fn commit(self: &Arc<Self>, rotate_secs: u64, under_attack: bool, redis: Option<Arc<Redis>>) {
        self.keys.set_rotation(rotate_secs);
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
        let mine = hex(&random_secret());
        let _ = redis.query(redis::cmd("SET").arg(&key).arg(&mine).arg("NX").clone()).await;
        let secret = match redis.query(redis::cmd("GET").arg(&key).clone()).await {
            Ok(Value::BulkString(bytes)) => unhex(&bytes),
            _ => None,
        };
        match secret {
            Some(secret) if self.keys.set_secret(secret) => {
                tracing::info!("challenge passes are signed with the secret shared through Redis")
            }
            Some(_) => {}
            None => tracing::warn!("no challenge secret could be read from Redis; passes hold on this instance only"),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &[u8]) -> Option<[u8; 32]> {
    let text = std::str::from_utf8(text).ok()?;
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_sets_the_switch_only_when_the_config_changes_it() {
        let c = Arc::new(Challenges::default());
        c.commit(3600, false, None);
        c.set_under_attack(true);
        c.commit(3600, false, None);
        assert!(c.under_attack(), "the admin API's word stands over an unchanged config");
        c.commit(3600, true, None);
        c.set_under_attack(false);
        c.commit(60, false, None);
        assert!(!c.under_attack());
        assert_eq!(c.keys.rotation_secs(), 60);
        assert_eq!(unhex(hex(&[0xab; 32]).as_bytes()), Some([0xab; 32]));
    }
}
