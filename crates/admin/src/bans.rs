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
    only_known_fields(&v, &["address", "duration", "reason"])?;
    let client = address(&v, bans)?;
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
        "" => {
            let v = serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))?;
            only_known_fields(&v, &["address"])?;
            address(&v, bans)?
        }
        text => parse_address(text, bans.ipv6_prefix())?,
    };
    match bans.lift(client) {
        true => Ok(format!("lifted the ban on {client}")),
        false => Err(format!("{client} is not banned")),
    }
}

fn address(v: &Value, bans: &Bans) -> Result<IpAddr, String> {
    parse_address(v["address"].as_str().ok_or("give the client's \"address\"")?, bans.ipv6_prefix())
}

/// Refuses a field this API does not read: a misspelt `duration` would otherwise ban
/// for the default time, silently.
fn only_known_fields(v: &Value, known: &[&str]) -> Result<(), String> {
    let Value::Object(fields) = v else { return Err("a JSON object".into()) };
    match fields.keys().find(|f| !known.contains(&f.as_str())) {
        Some(unknown) => Err(format!("unknown field \"{unknown}\" (this API reads {})", known.join(", "))),
        None => Ok(()),
    }
}

/// An address, or the `ADDRESS/PREFIX` form the list shows for IPv6 clients. A ban is of
/// one client, so a prefix is taken only where it names one (`/32` for IPv4, the prefix
/// IPv6 clients are grouped by): `203.0.113.0/24` would otherwise ban one address while
/// seeming to ban 256 (ranges belong in a deny list).
fn parse_address(text: &str, ipv6_prefix: u8) -> Result<IpAddr, String> {
    let client = client_of(text).ok_or_else(|| format!("bad address `{text}`"))?;
    let one_client = if client.is_ipv4() { 32 } else { ipv6_prefix };
    match text.split_once('/').map(|(_, bits)| bits.parse::<u8>()) {
        None => Ok(client),
        Some(Ok(bits)) if bits == one_client => Ok(client),
        Some(_) => Err(format!(
            "`{text}` is not one client: a ban names an address, or an IPv6 client's /{ipv6_prefix}; \
             a range belongs in a deny list ([lists])"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{only_known_fields, parse_address};

    #[test]
    fn a_ban_names_one_client() {
        assert_eq!(parse_address("203.0.113.7", 64), Ok("203.0.113.7".parse().unwrap()));
        assert_eq!(parse_address("203.0.113.7/32", 64), Ok("203.0.113.7".parse().unwrap()));
        assert_eq!(parse_address("2001:db8::/64", 64), Ok("2001:db8::".parse().unwrap()));
        assert_eq!(parse_address("2001:db8::/56", 56), Ok("2001:db8::".parse().unwrap()));
        for range in ["203.0.113.0/24", "203.0.113.7/33", "2001:db8::/48", "2001:db8::/x"] {
            let why = parse_address(range, 64).unwrap_err();
            assert!(why.contains("not one client"), "{range}: {why}");
        }
        assert!(parse_address("foo", 64).unwrap_err().contains("bad address"));
    }

    #[test]
    fn a_field_the_api_does_not_read_is_refused() {
        let v = serde_json::json!({"address": "203.0.113.7", "durration": "1h"});
        let why = only_known_fields(&v, &["address", "duration", "reason"]).unwrap_err();
        assert!(why.contains("unknown field \"durration\""), "{why}");
        assert!(only_known_fields(&serde_json::json!(["x"]), &["address"]).is_err());
    }
}
