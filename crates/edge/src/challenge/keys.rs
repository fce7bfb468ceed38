//! The keys that sign puzzles and passes: one per period (`rotate`, default an hour),
//! derived from the process's secret by HMAC, so that every worker, and every instance
//! that holds the same secret (shared through Redis), derives the same key without
//! talking; a key found out is worth one period, not forever.
use arc_swap::ArcSwap;
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes of a MAC kept (128 bits: forging one is 2^128 guesses, each a request).
pub const MAC_LEN: usize = 16;

pub struct Keys {
    secret: ArcSwap<[u8; 32]>,
    rotate_secs: AtomicU64,
    /// The keys of the last periods asked for, derived once: checking a pass on every
    /// request of a challenged route would otherwise derive its key each time.
    derived: ArcSwap<Derived>,
}

/// Derived keys, with the secret they came from (a set derived from a secret replaced
/// meanwhile is never used).
struct Derived {
    secret: Arc<[u8; 32]>,
    keys: Vec<(u32, hmac::Key)>,
}

/// Periods whose derived keys are kept (the current one, the one before, and room).
const KEPT: usize = 4;

impl Keys {
    /// Keys from a random secret of this process's own.
    pub fn random() -> Keys {
        let secret = Arc::new(random_secret());
        Keys {
            secret: ArcSwap::new(secret.clone()),
            rotate_secs: AtomicU64::new(3600),
            derived: ArcSwap::from_pointee(Derived { secret, keys: Vec::new() }),
        }
    }

    /// Takes `secret` (the one instances share); returns whether it differs from the one
    /// held (passes signed with the old one stop being accepted).
    pub fn set_secret(&self, secret: [u8; 32]) -> bool {
        let changed = **self.secret.load() != secret;
        if changed {
            self.secret.store(Arc::new(secret));
        }
        changed
    }

    /// The secret held now.
    pub fn secret(&self) -> [u8; 32] {
        **self.secret.load()
    }

    pub fn set_rotation(&self, secs: u64) {
        self.rotate_secs.store(secs.max(1), Ordering::Relaxed);
    }

    pub fn rotation_secs(&self) -> u64 {
        self.rotate_secs.load(Ordering::Relaxed)
    }

    /// The period `now` (Unix seconds) falls in.
    pub fn epoch(&self, now: u64) -> u32 {
        (now / self.rotation_secs()) as u32
    }

    /// The first second after period `epoch`.
    pub fn epoch_end(&self, epoch: u32) -> u64 {
        (u64::from(epoch) + 1) * self.rotation_secs()
    }

    /// The MAC of `parts` under period `epoch`'s key.
    pub fn mac(&self, epoch: u32, parts: &[&[u8]]) -> [u8; MAC_LEN] {
        let key = self.key(epoch);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(&(p.len() as u32).to_be_bytes());
            ctx.update(p);
        }
        let mut out = [0; MAC_LEN];
        out.copy_from_slice(&ctx.sign().as_ref()[..MAC_LEN]);
        out
    }

    /// Whether `mac` is that of `parts` under `epoch`'s key (compared in constant time).
    pub fn verify(&self, epoch: u32, parts: &[&[u8]], mac: &[u8]) -> bool {
        verify_slices_are_equal(&self.mac(epoch, parts), mac).is_ok()
    }

    fn key(&self, epoch: u32) -> hmac::Key {
        let secret = self.secret.load();
        let derived = self.derived.load();
        let same = Arc::ptr_eq(&derived.secret, &secret);
        if let Some((_, key)) = derived.keys.iter().filter(|_| same).find(|(e, _)| *e == epoch) {
            return key.clone();
        }
        let key = derive(&secret, epoch);
        let mut keys: Vec<(u32, hmac::Key)> = match same {
            true => derived.keys.iter().skip(derived.keys.len().saturating_sub(KEPT - 1)).cloned().collect(),
            false => Vec::new(),
        };
        keys.push((epoch, key.clone()));
        self.derived.store(Arc::new(Derived { secret: Arc::clone(&secret), keys }));
        key
    }
}

fn derive(secret: &[u8; 32], epoch: u32) -> hmac::Key {
    let master = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let derived = hmac::sign(&master, &[b"forecourt challenge key ".as_slice(), &epoch.to_be_bytes()].concat());
    hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
}

pub fn random_secret() -> [u8; 32] {
    let mut secret = [0; 32];
    SystemRandom::new().fill(&mut secret).expect("the system's random source");
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_period_and_secret() {
        let keys = Keys::random();
        let mac = keys.mac(7, &[b"a", b"b"]);
        assert!(keys.verify(7, &[b"a", b"b"], &mac));
        assert!(!keys.verify(8, &[b"a", b"b"], &mac), "another period, another key");
        assert!(!keys.verify(7, &[b"ab", b""], &mac), "parts are length-framed");
        let other = Keys::random();
        assert!(!other.verify(7, &[b"a", b"b"], &mac));
        let shared = random_secret();
        assert!(keys.set_secret(shared) && other.set_secret(shared) && !other.set_secret(shared));
        assert!(other.verify(7, &[b"a", b"b"], &keys.mac(7, &[b"a", b"b"])), "one secret, one key");
        keys.set_rotation(3600);
        assert_eq!((keys.epoch(7199), keys.epoch(7200), keys.epoch_end(1)), (1, 2, 7200));
    }
}
