//! Resumable sessions, kept in the server's memory rather than in tickets sealed with a
//! server key: a TLS 1.2 client resumes by session ID, a TLS 1.3 client by a ticket that
//! only names a stored session and is good once. As Mozilla's guidance for nginx
//! (`ssl_session_tickets off` with a shared session cache): a leaked ticket key would
//! let whoever recorded TLS 1.2 traffic decrypt every session resumed or ticketed under
//! it, while a stored session is forgotten when it is used up, expires or is pushed out.
//! It also spares TLS 1.2 clients a fresh ticket at every resumption (rustls sends one
//! whenever tickets are on), and with it a copy of their session.
use rustls::server::StoresServerSessions;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a session may be resumed: what rustls announces to TLS 1.3 clients for a
/// stored session, and Mozilla's `ssl_session_timeout` for nginx.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// A bounded store of sessions: the oldest go first when it is full, and none outlives
/// its lifetime. Every operation costs O(log n) under one lock (rustls's own memory
/// cache searches a list of every key to take one, which a TLS 1.3 resumption does).
#[derive(Debug)]
pub struct SessionCache {
    capacity: usize,
    lifetime: Duration,
    inner: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    by_id: HashMap<Vec<u8>, Stored>,
    /// The ids by age (insertion number), oldest first.
    by_age: BTreeMap<u64, Vec<u8>>,
    inserted: u64,
}

#[derive(Debug)]
struct Stored {
    number: u64,
    born: Instant,
    value: Vec<u8>,
}

impl SessionCache {
    /// A store of at most `capacity` sessions, each resumable for `lifetime`.
    pub fn new(capacity: usize, lifetime: Duration) -> SessionCache {
        SessionCache { capacity: capacity.max(1), lifetime, inner: Mutex::new(Sessions::default()) }
    }

    fn lock(&self) -> MutexGuard<'_, Sessions> {
        // Nothing here panics between its changes to the two maps, so a lock poisoned
        // elsewhere still guards a consistent store.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The session stored under `id` if it is still fresh, taken out when `remove`.
    fn find(&self, id: &[u8], remove: bool) -> Option<Vec<u8>> {
        let mut sessions = self.lock();
        let stored = sessions.by_id.get(id)?;
        let fresh = stored.born.elapsed() < self.lifetime;
        if fresh && !remove {
            return Some(stored.value.clone());
        }
        let stored = sessions.remove(id)?;
        fresh.then_some(stored.value)
    }
}

impl Sessions {
    fn remove(&mut self, id: &[u8]) -> Option<Stored> {
        let stored = self.by_id.remove(id)?;
        self.by_age.remove(&stored.number);
        Some(stored)
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, id: Vec<u8>, value: Vec<u8>) -> bool {
        let mut sessions = self.lock();
        let sessions = &mut *sessions;
        let now = Instant::now();
        sessions.inserted += 1;
        let number = sessions.inserted;
        sessions.by_age.insert(number, id.clone());
        let replaced = sessions.by_id.insert(id, Stored { number, born: now, value });
        if let Some(old) = replaced {
            sessions.by_age.remove(&old.number);
        }
        // The oldest go while the store is over capacity or they have expired.
        while let Some(entry) = sessions.by_age.first_entry() {
            let expired = sessions.by_id.get(entry.get()).is_none_or(|s| now.duration_since(s.born) >= self.lifetime);
            if sessions.by_id.len() <= self.capacity && !expired {
                break;
            }
            let id = entry.remove();
            sessions.by_id.remove(&id);
        }
        true
    }

    fn get(&self, id: &[u8]) -> Option<Vec<u8>> {
        self.find(id, false)
    }

    fn take(&self, id: &[u8]) -> Option<Vec<u8>> {
        self.find(id, true)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl SessionCache {
        fn len(&self) -> usize {
            self.lock().by_id.len()
        }
        fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    fn id(n: u8) -> Vec<u8> {
        vec![n; 32]
    }

    #[test]
    fn a_session_is_found_until_taken() {
        let cache = SessionCache::new(10, SESSION_LIFETIME);
        assert!(cache.put(id(1), b"one".to_vec()));
        assert_eq!(cache.get(&id(1)).as_deref(), Some(&b"one"[..]));
        assert_eq!(cache.get(&id(1)).as_deref(), Some(&b"one"[..]), "get leaves it");
        assert_eq!(cache.take(&id(1)).as_deref(), Some(&b"one"[..]));
        assert_eq!(cache.take(&id(1)), None, "a taken session is gone");
        assert_eq!(cache.get(&id(2)), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn the_oldest_sessions_go_when_the_store_is_full() {
        let cache = SessionCache::new(3, SESSION_LIFETIME);
        for n in 1..=5 {
            cache.put(id(n), vec![n]);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&id(1)), None);
        assert_eq!(cache.get(&id(2)), None);
        assert_eq!(cache.get(&id(3)), Some(vec![3]));
        // Taking one makes room: nothing else goes at the next insertion.
        cache.take(&id(4));
        cache.put(id(6), vec![6]);
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&id(3)), Some(vec![3]));
        // Storing under a known id replaces the session, which then counts as new.
        cache.put(id(3), vec![33]);
        cache.put(id(7), vec![7]);
        assert_eq!(cache.get(&id(5)), None, "5 was the oldest after 3 was renewed");
        assert_eq!(cache.get(&id(3)), Some(vec![33]));
    }

    #[test]
    fn an_expired_session_is_not_resumed_and_is_dropped() {
        let cache = SessionCache::new(10, Duration::from_millis(50));
        cache.put(id(1), vec![1]);
        cache.put(id(2), vec![2]);
        std::thread::sleep(Duration::from_millis(80));
        assert_eq!(cache.get(&id(1)), None);
        assert_eq!(cache.take(&id(2)), None);
        assert!(cache.is_empty());
        // Expired sessions nobody asks for go at the next insertion.
        cache.put(id(3), vec![3]);
        std::thread::sleep(Duration::from_millis(80));
        cache.put(id(4), vec![4]);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&id(4)), Some(vec![4]));
    }
}
