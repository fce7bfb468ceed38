//! `GET /api/bans` (the bans in force), `POST /api/bans` (`{"address": ..., "duration":
//! "1h", "reason": ...}`: ban a client now) and `DELETE /api/bans/ADDRESS` (or `DELETE
//! /api/bans` with `{"address": ...}`: lift a ban). Every worker shares the one table.
use forecourt_edge::bans::{client_of, Bans, Source};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub fn list(bans: &Bans) -> Value {
    let listed: Vec<Value> = bans
        .list()
        .into_iter()
        .map(|b| {
            json!({
                "address": b.address,
                "expires": b.expires,
                "remaining_seconds": b.remaining.as_secs(),
                "source": b.source.describe(),
            })
        })
        .collect();
    json!({ "bans": listed })
}

/// `POST /api/bans`: what was done, or why not.
pub fn add(bans: &Bans, body: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))?;
    let client = address(&v)?;
    let duration = match &v["duration"] {
        Value::Null => None,
        Value::Number(n) => Some(n.as_u64().filter(|s| *s > 0).map(Duration::from_secs).ok_or("bad duration")?),
        Value::String(s) => Some(forecourt_config::parse_duration(s).map_err(|e| e.to_string())?),
        _ => return Err("duration: seconds, or a duration such as \"1h\"".into()),
    };
    if duration.is_some_and(|d| d.is_zero()) {
        return Err("duration must be longer than zero".into());
    }
    let reason = v["reason"].as_str().unwrap_or("").chars().filter(|c| !c.is_control()).take(200).collect();
    let new = bans.ban(client, duration, Source::Api(reason));
    if new {
        bans.added_by_api.fetch_add(1, Ordering::Relaxed);
    }
    Ok(match new {
        true => format!("banned {client}"),
        false => format!("{client} was already banned (the longer ban stands)"),
    })
}

/// `DELETE /api/bans/ADDRESS`, or the address in the body.
pub fn lift(bans: &Bans, in_path: &str, body: &[u8]) -> Result<String, String> {
    let client = match in_path {
        "" => address(&serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))?)?,
        text => parse_address(text)?,
    };
    match bans.lift(client) {
        true => Ok(format!("lifted the ban on {client}")),
        false => Err(format!("{client} is not banned")),
    }
}

fn address(v: &Value) -> Result<IpAddr, String> {
    parse_address(v["address"].as_str().ok_or("give the client's \"address\"")?)
}

/// An address, or the `ADDRESS/PREFIX` form the list shows for IPv6 clients.
fn parse_address(text: &str) -> Result<IpAddr, String> {
    client_of(text).ok_or_else(|| format!("bad address `{text}`"))
}
