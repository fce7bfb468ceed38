//! Puzzles already redeemed, kept until they would have expired anyway: a solution earns
//! one pass, not one per replay. Bounded: when full of unexpired ids (a flood of solved
//! puzzles, each costing its sender the work), new ones are refused until some expire.
use std::collections::HashMap;
use std::sync::Mutex;

pub struct Redeemed {
    /// Puzzle id → when it expires (Unix seconds).
    seen: Mutex<HashMap<[u8; 16], u64>>,
    max: usize,
}

impl Redeemed {
    pub fn new(max: usize) -> Redeemed {
        Redeemed { seen: Mutex::default(), max }
    }

    /// Marks `id` redeemed until `expires`; false when it was already (or there is no
    /// room for it).
    pub fn redeem(&self, id: [u8; 16], expires: u64, now: u64) -> bool {
        let mut seen = self.seen.lock().unwrap();
        if seen.len() >= self.max {
            seen.retain(|_, e| *e > now);
            if seen.len() >= self.max {
                return false;
            }
        }
        match seen.get(&id) {
            Some(e) if *e > now => false,
            _ => {
                seen.insert(id, expires);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Redeemed;

    #[test]
    fn an_id_is_redeemed_once_and_room_comes_back_as_ids_expire() {
        let r = Redeemed::new(2);
        assert!(r.redeem([1; 16], 100, 0));
        assert!(!r.redeem([1; 16], 100, 50), "replayed");
        assert!(r.redeem([2; 16], 100, 50));
        assert!(!r.redeem([3; 16], 100, 50), "full of live ids");
        assert!(r.redeem([3; 16], 200, 100), "the first two expired");
    }
}
