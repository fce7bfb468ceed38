//! Keys whose objects a range asked as the whole did not get stored (too large, private,
//! `no-store`, an error status): for two minutes, ranges on them go to the origin as they
//! are, instead of asking for the whole again on every seek — what Varnish's hit-for-miss
//! objects do (120 s by default there). Without it, a player seeking in a video the cache
//! may not keep would have the origin send everything before each part, every time.
use moka::sync::Cache;
use std::sync::Arc;
use std::time::Duration;

/// How long a key's ranges go as they are.
const FOR: Duration = Duration::from_secs(120);
/// Keys remembered at most (the oldest are forgotten first).
const KEYS: u64 = 100_000;

pub struct RangePasses {
    keys: Cache<Arc<str>, ()>,
}

impl Default for RangePasses {
    fn default() -> Self {
        RangePasses { keys: Cache::builder().max_capacity(KEYS).time_to_live(FOR).build() }
    }
}

impl RangePasses {
    /// A range on `key` was asked as the whole, which was not stored.
    pub fn remember(&self, key: &Arc<str>) {
        self.keys.insert(key.clone(), ());
    }

    /// Whether ranges on `key` go as they are.
    pub fn passes(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_keys_pass() {
        let passes = RangePasses::default();
        let key: Arc<str> = Arc::from("http://site/video.mp4");
        assert!(!passes.passes(&key));
        passes.remember(&key);
        assert!(passes.passes("http://site/video.mp4"));
        assert!(!passes.passes("http://site/other.mp4"));
    }
}
