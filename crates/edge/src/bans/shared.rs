//! Bans shared through Redis (`[redis]`): a ban (by a rule or the admin API) is written as
//! `PREFIX ban:ADDRESS` with the ban's time to live, so that it survives restarts, and
//! announced on `PREFIX bans`, so that every instance has it within a message's time; a
//! lift deletes the key and is announced too. Each time Redis becomes reachable, this
//! instance writes the bans it made meanwhile and reads every shared one. While Redis is
//! down, bans stay local (and the local ones are written when it returns).
//!
//! Messages: `ban INSTANCE MILLISECONDS ADDRESS SOURCE` and `lift INSTANCE ADDRESS`; an
//! instance ignores its own. The registry follows them (`Bans::follow`); this file holds
//! what is written to Redis and read from it.
use super::table::Source;
use forecourt_redis::Redis;
use redis::{cmd, Value};
use std::net::IpAddr;
use std::time::Duration;

/// An announcement on the bans channel.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Message<'a> {
    Ban { from: u64, duration: Duration, address: &'a str, source: &'a str },
    Lift { from: u64, address: &'a str },
}

impl<'a> Message<'a> {
    pub(super) fn parse(text: &'a str) -> Option<Message<'a>> {
        let mut words = text.splitn(5, ' ');
        let (kind, from) = (words.next()?, words.next()?.parse().ok()?);
        match kind {
            "ban" => {
                let duration = Duration::from_millis(words.next()?.parse().ok()?);
                let address = words.next()?;
                Some(Message::Ban { from, duration, address, source: words.next().unwrap_or("shared") })
            }
            "lift" => Some(Message::Lift { from, address: words.next()? }),
            _ => None,
        }
    }
}

/// Writes and announces a ban this instance made.
pub(super) fn announce_ban(redis: &Redis, instance: u64, address: &str, duration: Duration, source: &Source) {
    let ms = duration.as_millis().max(1) as u64;
    let source = source.describe();
    redis.send(cmd("SET").arg(redis.key(&format!("ban:{address}"))).arg(&source).arg("PX").arg(ms).clone());
    redis.send(cmd("PUBLISH").arg(redis.key("bans")).arg(format!("ban {instance} {ms} {address} {source}")).clone());
}

/// Deletes and announces a lift this instance made.
pub(super) fn announce_lift(redis: &Redis, instance: u64, address: &str) {
    redis.send(cmd("DEL").arg(redis.key(&format!("ban:{address}"))).clone());
    redis.send(cmd("PUBLISH").arg(redis.key("bans")).arg(format!("lift {instance} {address}")).clone());
}

/// The client an address as listed stands for (`2001:db8::/64` is its first address): how
/// the admin API and other instances name a banned client.
pub fn client_of(address: &str) -> Option<IpAddr> {
    address.split_once('/').map_or(address, |(a, _)| a).parse().ok()
}

/// A ban as Redis holds it.
pub(super) struct SharedBan {
    pub address: String,
    pub remaining: Duration,
    pub source: String,
}

/// Every ban Redis holds (as far as it answers).
pub(super) async fn read_all(redis: &Redis) -> Vec<SharedBan> {
    let pattern = redis.key("ban:*");
    let mut out = Vec::new();
    let mut cursor = 0u64;
    loop {
        let scan = cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(500).clone();
        let Ok(Value::Array(reply)) = redis.query(scan).await else { return out };
        let [next, Value::Array(keys)] = reply.as_slice() else { return out };
        for key in keys {
            if let Value::BulkString(key) = key {
                out.extend(read(redis, &String::from_utf8_lossy(key)).await);
            }
        }
        cursor = match next {
            Value::BulkString(n) => std::str::from_utf8(n).ok().and_then(|n| n.parse().ok()).unwrap_or(0),
            _ => 0,
        };
        if cursor == 0 {
            return out;
        }
    }
}

async fn read(redis: &Redis, key: &str) -> Option<SharedBan> {
    let address = key.strip_prefix(&redis.key("ban:"))?.to_owned();
    let Ok(Value::Int(ms)) = redis.query(cmd("PTTL").arg(key).clone()).await else { return None };
    let source = match redis.query(cmd("GET").arg(key).clone()).await {
        Ok(Value::BulkString(s)) => String::from_utf8_lossy(&s).into_owned(),
        _ => "shared".into(),
    };
    (ms > 0).then(|| SharedBan { address, remaining: Duration::from_millis(ms as u64), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_read_back_and_nonsense_is_ignored() {
        assert_eq!(
            Message::parse("ban 7 60000 2001:db8::/64 rule:scan ners"),
            Some(Message::Ban {
                from: 7,
                duration: Duration::from_secs(60),
                address: "2001:db8::/64",
                source: "rule:scan ners"
            })
        );
        assert_eq!(Message::parse("lift 7 10.0.0.1"), Some(Message::Lift { from: 7, address: "10.0.0.1" }));
        for bad in ["", "ban", "ban x 1 a", "ban 7 soon a", "lift 7", "drop 7 a"] {
            assert_eq!(Message::parse(bad), None, "{bad}");
        }
        assert_eq!(client_of("2001:db8::/64"), "2001:db8::".parse().ok());
    }
}
