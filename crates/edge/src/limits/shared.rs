//! A limit with `store = "redis"`: one GCRA for every instance, decided by one atomic Lua
//! script on the server's clock (no instance's clock matters, and no request adds a key
//! that does not expire: each key lives only until its TAT passes). Keys are
//! `PREFIX limit:NAME:HASH` (see `KeySpec::shared_key`). When Redis is down, or does not
//! answer within `[redis] timeout`, the limit's local buckets decide instead.
use super::gcra::Conform;
use super::registry::{Limit, Outcome};
use forecourt_redis::Redis;
use http::request;
use redis::{Script, Value};
use std::net::IpAddr;
use std::sync::OnceLock;

/// KEYS[1]: the key's TAT in µs of the server's clock, and the emission interval it was
/// written under (`TAT:EMISSION`; a bare TAT, as earlier versions wrote, counts as written
/// under this one). ARGV: the emission interval (µs), the burst. Answers {1, µs ahead of the
/// steady rate} or {0, µs until it would conform}.
///
/// A TAT written under another interval (a reload changed the rate, here or on another
/// instance) is converted, and written back converted even when the request is refused
/// (from then on it drains at this rate), so that a client's debt is the same number of
/// requests at this rate (as the local buckets convert at commit, and nginx keeps a key's
/// excess in requests): a limit tightened under attack gives no client a fresh burst. An
/// instance of an earlier version reads `TAT:EMISSION` as no number: none. A TAT past
/// what the limit allows (a smaller burst than it was written under, a key edited by hand)
/// counts as the most it allows, one emission past the burst; one that is not a count of
/// µs (another program's value under the same prefix, `nan`, `1e30`) counts as none. So no
/// stored value refuses a client for longer than the limit allows, or makes the answer
/// overflow.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local emission = tonumber(ARGV[1])
local tolerance = emission * tonumber(ARGV[2])
local most = now + tolerance + emission
local stored = redis.call('GET', KEYS[1]) or ''
local at, under = string.match(stored, '^(%d+):(%d+)$')
if not at then at = string.match(stored, '^(%d+)$') end
local tat = tonumber(at) or now
under = tonumber(under) or emission
local kept = tat
if tat > now and under ~= emission then
  tat = now + (tat - now) / math.max(under, 1) * emission
end
if not (tat >= now) then tat = now elseif tat > most then tat = most end
local function keep(at)
  redis.call('SET', KEYS[1], string.format('%d:%d', at, emission), 'PX', math.ceil((at - now) / 1000) + 1)
end
if tat - now > tolerance then
  if tat ~= kept or under ~= emission then keep(tat) end
  return {0, tat - now - tolerance}
end
keep(tat + emission)
return {1, tat - now}
";

fn script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(GCRA))
}

impl Limit {
    /// Whether this limit asks Redis now (it is shared and Redis is up); a shared limit
    /// whose Redis is down counts a fallback and decides locally.
    pub(super) fn asks_redis(&self) -> bool {
        match &self.shared {
            Some(redis) if redis.is_up() => true,
            Some(redis) => {
                redis.fell_back();
                false
            }
            None => false,
        }
    }

    /// Decides one request in the shared store, or locally when Redis fails it.
    pub(super) async fn decide_shared(&self, head: &request::Parts, client: IpAddr, route: &str) -> Outcome {
        let Some(redis) = &self.shared else { return self.decide(head, client, route) };
        let Some(key) = self.spec.key.shared_key(head, client, route) else { return Outcome::Skip };
        match self.ask(redis, &key).await {
            Some(conform) => self.count(conform),
            None => {
                redis.fell_back();
                self.decide(head, client, route)
            }
        }
    }

    async fn ask(&self, redis: &Redis, key: &str) -> Option<Conform> {
        let emission_us = (self.spec.rate.emission_ns() / 1000).max(1);
        let keys = vec![redis.key(&format!("limit:{}:{key}", self.name)).into_bytes()];
        let args = vec![emission_us.to_string().into_bytes(), self.spec.burst.to_string().into_bytes()];
        match redis.script(script(), keys, args).await.ok()? {
            Value::Array(answer) => match answer.as_slice() {
                // Never negative nor past u64's nanoseconds, whatever the server says.
                [Value::Int(1), Value::Int(ahead)] => Some(Conform::Yes { ahead_ns: nanos(*ahead) }),
                [Value::Int(0), Value::Int(retry)] => Some(Conform::No { retry_ns: nanos(*retry) }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Microseconds from the script as nanoseconds.
fn nanos(micros: i64) -> u64 {
    (micros.max(0) as u64).saturating_mul(1000)
}
