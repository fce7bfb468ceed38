//! The generic cell rate algorithm: one number per key, the theoretical arrival time
//! (TAT) of the next request that conforms. A request at `now` conforms while
//! `TAT - now` stays within the burst tolerance; it then pushes TAT one emission
//! interval on. Nothing is refilled by a timer, so an idle key costs nothing and its
//! entry can be dropped once `TAT <= now` (it is then the same as a new key).

/// A rate: `count` requests per `per_ns` nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u64,
    pub per_ns: u64,
}

impl Rate {
    /// `"10/s"`, `"600/min"`, `"1000/h"`, `"5/d"` (also `sec`, `second`, `minute`,
    /// `hour`, `day`).
    pub fn parse(text: &str) -> Result<Rate, String> {
        let (count, unit) = text.split_once('/').ok_or("a rate is COUNT/UNIT, as \"10/s\" or \"600/min\"")?;
        let count: u64 = count.trim().parse().map_err(|_| format!("`{}` is not a whole number", count.trim()))?;
        let per_s = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            other => return Err(format!("unknown unit `{other}`: use s, min, h or d")),
        };
        if count == 0 || count > 1_000_000_000 {
            return Err("the count must be between 1 and 1000000000".into());
        }
        Ok(Rate { count, per_ns: per_s * 1_000_000_000 })
    }

    /// Nanoseconds between two conforming requests at the steady rate.
    pub fn emission_ns(self) -> u64 {
        (self.per_ns / self.count).max(1)
    }
}

/// What one request gets from a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conform {
    /// Within the rate or its burst; `ahead_ns` is how far ahead of the steady rate the
    /// key now is (0: on schedule), which a delaying limit waits out.
    Yes { ahead_ns: u64 },
    /// Over: the next request would conform after `retry_ns`.
    No { retry_ns: u64 },
}

/// Decides a request at `now_ns` against `tat` (0 for a new key) and updates it.
/// `burst` requests beyond the steady rate may come at once.
pub fn check(tat: &mut u64, now_ns: u64, emission_ns: u64, burst: u64) -> Conform {
    let tolerance = emission_ns.saturating_mul(burst);
    let start = (*tat).max(now_ns);
    if start - now_ns > tolerance {
        return Conform::No { retry_ns: start - now_ns - tolerance };
    }
    *tat = start + emission_ns;
    Conform::Yes { ahead_ns: start - now_ns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_bad_ones_say_why() {
        assert_eq!(Rate::parse("10/s").unwrap().emission_ns(), 100_000_000);
        assert_eq!(Rate::parse("600/min").unwrap().emission_ns(), 100_000_000);
        assert_eq!(Rate::parse(" 2 / h").unwrap().emission_ns(), 1_800_000_000_000);
        for bad in ["10", "x/s", "10/fortnight", "0/s", "-1/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_burst_passes_then_the_rate_holds() {
        let (t, mut tat) = (100_000_000, 0);
        let now = 1_000_000_000;
        // Burst 2: three at once (one on schedule, two ahead), the fourth refused.
        for ahead in [0, t, 2 * t] {
            assert_eq!(check(&mut tat, now, t, 2), Conform::Yes { ahead_ns: ahead });
        }
        assert_eq!(check(&mut tat, now, t, 2), Conform::No { retry_ns: t });
        // One interval later exactly one more conforms.
        assert!(matches!(check(&mut tat, now + t, t, 2), Conform::Yes { .. }));
        assert!(matches!(check(&mut tat, now + t, t, 2), Conform::No { .. }));
        // A long idle key is as new.
        let mut idle = tat;
        assert_eq!(check(&mut idle, now + 100 * t, t, 2), Conform::Yes { ahead_ns: 0 });
    }
}
