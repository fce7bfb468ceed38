//! Bans shared through Redis (`[redis]`): a ban (by a rule or the admin API) is written to
//! `{PREFIXbans}:until` (a sorted set: each address by its ban's end, on the Redis server's
//! clock) and `{PREFIXbans}:source` (a hash: who banned it), so that it survives restarts,
//! and announced on `PREFIX bans`, so that every instance has it within a message's time; a
//! lift removes it and is announced too. Both keys share a hash tag, so that one script
//! writes or reads them on one node of a Redis Cluster, and reading every ban is one call
//! (not a scan of every key, rate limits' among them); they expire with the last ban. Each time Redis becomes reachable, this
//! instance writes the bans it made meanwhile and reads every shared one; a Redis that
//! lost its bans (another epoch) is written every ban this instance holds. While Redis is
//! down, bans stay local (and the local ones are written when it returns); a start that
//! cannot reach it enforces the copy on disk until it answers (`registry.rs`).
//!
//! Messages: `ban INSTANCE MILLISECONDS ADDRESS SOURCE` and `lift INSTANCE ADDRESS`; an
//! instance ignores its own. The registry follows them (`Bans::follow`); this file holds
//! what is written to Redis and read from it.
use super::table::Source;
use forecourt_proxy::LONGEST_DURATION;
use forecourt_redis::Redis;
use redis::{cmd, Value};
use std::net::IpAddr;
use std::sync::OnceLock;
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

/// The one script that writes and reads the shared bans. Each call first drops the bans
/// that have ended; the keys live as long as the last ban. A read answers the server's
/// epoch first (`{PREFIXbans}:epoch`, which never expires: made by the first read with
/// the name the reader proposed): a Redis that comes back with another epoch, or none,
/// lost what it held (restarted without its data, flushed, another server), and each
/// instance writes back the bans it holds. No ban counts as longer than
/// `LONGEST` ms (`LONGEST_DURATION`): an end past it, written by an older version or by
/// hand, would otherwise make every call fail (PEXPIRE refuses a count Lua writes as
/// 1.8e+19), and each failure marks Redis down.
const BANS: &str = r#"
local longest = LONGEST
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('HDEL', KEYS[2], gone)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] == 'ban' then
  redis.call('ZADD', KEYS[1], now + math.min(tonumber(ARGV[3]), longest), ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
elseif ARGV[1] == 'lift' then
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then
  local ttl = math.min(math.floor(tonumber(last[2]) - now), longest) + 1000
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
if ARGV[1] ~= 'read' then
  return {}
end
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[3], epoch)
end
local out = {epoch}
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = math.min(math.floor(tonumber(live[i + 1]) - now), longest)
  out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or 'shared'
end
return out
"#;

/// `BANS` called with `args` (EVAL: bans change seldom, and a fire-and-forget call cannot
/// load a script the server does not know yet).
fn bans_script(redis: &Redis, args: &[&str]) -> redis::Cmd {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    let script = SCRIPT.get_or_init(|| BANS.replace("LONGEST", &LONGEST_DURATION.as_millis().to_string()));
    let tag = format!("{{{}bans}}", redis.spec.prefix);
    let keys = [format!("{tag}:until"), format!("{tag}:source"), format!("{tag}:epoch")];
    cmd("EVAL").arg(script.as_str()).arg(keys.len()).arg(&keys).arg(args).clone()
}

/// Writes and announces a ban this instance made (at most `LONGEST_DURATION`: `Bans::ban`
/// and the table bound it).
pub(super) fn announce_ban(redis: &Redis, instance: u64, address: &str, duration: Duration, source: &Source) {
    let (ms, source) = (millis(duration), source.describe());
    write_ban(redis, address, ms, &source);
    redis.send(cmd("PUBLISH").arg(redis.key("bans")).arg(format!("ban {instance} {ms} {address} {source}")).clone());
}

/// Writes a ban to Redis without announcing it (every instance following Redis has it
/// already: another instance's, or one read back from disk, written back to a Redis that
/// lost it).
pub(super) fn restore_ban(redis: &Redis, address: &str, duration: Duration, source: &Source) {
    write_ban(redis, address, millis(duration), &source.describe());
}

fn write_ban(redis: &Redis, address: &str, ms: u64, source: &str) {
    redis.send(bans_script(redis, &["ban", address, &ms.to_string(), source]));
}

/// A ban's length as written and announced: whole milliseconds, at least one.
fn millis(duration: Duration) -> u64 {
    duration.as_millis().max(1) as u64
}

/// Removes and announces a lift this instance made.
pub(super) fn announce_lift(redis: &Redis, instance: u64, address: &str) {
    redis.send(bans_script(redis, &["lift", address]));
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

/// What Redis holds: its epoch (`proposed` if it had none) and every ban.
pub(super) struct SharedBans {
    pub epoch: String,
    pub bans: Vec<SharedBan>,
}

/// Every ban Redis holds, and its epoch (`None` when it does not answer).
pub(super) async fn read_all(redis: &Redis, proposed: &str) -> Option<SharedBans> {
    let Ok(Value::Array(flat)) = redis.query(bans_script(redis, &["read", proposed])).await else { return None };
    let Some((Value::BulkString(epoch), flat)) = flat.split_first() else { return None };
    let epoch = String::from_utf8_lossy(epoch).into_owned();
    let bans = flat
        .chunks_exact(3)
        .filter_map(|ban| match ban {
            [Value::BulkString(address), Value::Int(ms), Value::BulkString(source)] if *ms > 0 => Some(SharedBan {
                address: String::from_utf8_lossy(address).into_owned(),
                remaining: Duration::from_millis(*ms as u64),
                source: String::from_utf8_lossy(source).into_owned(),
            }),
            _ => None,
        })
        .collect();
    Some(SharedBans { epoch, bans })
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
