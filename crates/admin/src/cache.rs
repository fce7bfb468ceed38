//! `GET /api/cache` (the tiers' sizes and the keys with the most hits) and
//! `POST /api/cache/purge` (`{"url": ...}`, `{"prefix": ...}`, `{"regex": ...}`,
//! `{"tag": ...}` or `{"all": true}`, with `"soft": true` to make what it names stale
//! rather than remove it). Every worker shares the one store, so a purge reaches all at once.
use forecourt_cache::{Purge, Store, TierUsage, UrlPattern};
use serde_json::{json, Value};

pub fn describe(store: &Store) -> Value {
    let tier =
        |u: TierUsage| json!({ "bytes": u.bytes, "objects": u.objects, "capacity": u.bound, "evictions": u.evictions });
    let disk = store.disk().map(|d| {
        let (corrupt, dropped, loaded, degraded) = d.health();
        let mut v = tier(d.usage());
        v["path"] = json!(d.path().display().to_string());
        v["corrupt_files_dropped"] = json!(corrupt);
        v["writes_dropped"] = json!(dropped);
        v["loaded"] = json!(loaded);
        v["writable"] = json!(!degraded);
        v
    });
    let top: Vec<Value> =
        store.top_keys(20).into_iter().map(|(key, hits)| json!({ "key": key, "hits": hits })).collect();
    json!({
        "memory": tier(store.memory_usage()),
        "disk": disk,
        "max_object": store.config.max_object,
        "purges": store.purges(),
        "soft_purges": store.soft_purges(),
        "fetches_in_progress": store.fills.in_progress(),
        "top_keys": top,
    })
}

/// The five ways to name what to purge, for answers that name none or several.
const WAYS: &str = "{\"url\": ...}, {\"prefix\": ...}, {\"regex\": ...}, {\"tag\": ...} or {\"all\": true}";

/// Parses a purge request and does it; the answer's JSON (what was purged, whether softly,
/// and how many stored objects that was: 0 says the purge named nothing stored), or why not.
pub fn purge(store: &Store, body: &[u8]) -> Result<Value, String> {
    let (purge, soft) = parse(body)?;
    let objects = if soft { store.soft_purge(&purge) } else { store.purge(&purge) };
    let mut answer = match &purge {
        Purge::Url(url) => json!({ "url": url }),
        Purge::Prefix(prefix) => json!({ "prefix": prefix }),
        Purge::Pattern(pattern) => json!({ "regex": pattern.as_str() }),
        Purge::Tag(tag) => json!({ "tag": tag }),
        Purge::All => json!({ "all": true }),
    };
    answer["soft"] = json!(soft);
    answer["objects"] = json!(objects);
    Ok(answer)
}

/// A purge request's body: exactly one of the five ways, and `"soft"` optionally. Any
/// other field is refused rather than ignored: a misspelt `"soft"` would otherwise remove
/// what was to be kept, and a second way would be silently dropped.
fn parse(body: &[u8]) -> Result<(Purge, bool), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(fields) = v else {
        return Err(format!("a JSON object saying what to purge: {WAYS}"));
    };
    let (mut named, mut soft) = (None, false);
    for (field, value) in &fields {
        let purge = match (field.as_str(), value) {
            ("soft", Value::Bool(b)) => {
                soft = *b;
                continue;
            }
            ("soft", other) => return Err(format!("\"soft\" is true or false, not {other}")),
            ("all", Value::Bool(true)) => Purge::All,
            ("all", other) => return Err(format!("\"all\" is true, not {other}")),
            ("url", Value::String(url)) => Purge::Url(url_or_path(field, url)?),
            ("prefix", Value::String(prefix)) => Purge::Prefix(url_or_path(field, prefix)?),
            ("regex", Value::String(pattern)) => Purge::Pattern(UrlPattern::new(pattern)?),
            ("tag", Value::String(tag)) if !tag.is_empty() => Purge::Tag(tag.clone()),
            ("url" | "prefix" | "regex" | "tag", other) => {
                return Err(format!("\"{field}\" is a non-empty string, not {other}"))
            }
            (other, _) => return Err(format!("unknown field \"{other}\": say what to purge with {WAYS}")),
        };
        if named.replace(purge).is_some() {
            return Err(format!("one purge at a time: {WAYS}"));
        }
    }
    named.map(|purge| (purge, soft)).ok_or_else(|| format!("say what to purge: {WAYS}"))
}

/// A `url` or `prefix` as the keys hold it (`https://example.com/a`: escaped as requests
/// arrive, the host in lower case and without its port) or as a path (`/a`, on every
/// host); anything else could never match.
fn url_or_path(field: &str, written: &str) -> Result<String, String> {
    let escaped = as_requested(written);
    if written.starts_with('/') {
        return Ok(escaped);
    }
    let form = "a URL with its scheme and host (\"https://example.com/a\") or a path on every host (\"/a\")";
    let uri: http::Uri = escaped.parse().map_err(|_| format!("\"{field}\" is {form}, not {written:?}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme @ ("http" | "https")), Some(host)) if !host.is_empty() => {
            Ok(forecourt_cache::key::url(scheme, host, uri.path_and_query().map_or("/", |p| p.as_str())))
        }
        _ => Err(format!("\"{field}\" is {form}, not {written:?}")),
    }
}

/// A URL as typed (`https://example.com/wiki/東京`, as a browser's address bar shows it) in
/// the form requests reach the cache: Forecourt escapes what a target may not hold, as a
/// browser does, so the keys hold `/wiki/%E6%9D%B1%E4%BA%AC`.
fn as_requested(url: &str) -> String {
    forecourt_proxy::percent::as_browsers_send(url.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::{as_requested, parse};
    use forecourt_cache::Purge;

    #[test]
    fn a_purge_names_one_thing_and_nothing_unknown() {
        assert_eq!(parse(br#"{"url": "/a?b=1"}"#), Ok((Purge::Url("/a?b=1".into()), false)));
        assert_eq!(parse(br#"{"tag": "red", "soft": true}"#), Ok((Purge::Tag("red".into()), true)));
        assert_eq!(parse(br#"{"all": true, "soft": false}"#), Ok((Purge::All, false)));
        let refused = |body: &str, says: &str| {
            let why = parse(body.as_bytes()).expect_err(body);
            assert!(why.contains(says), "{body}: {why}");
        };
        refused(r#"{"all": true, "url": "https://a.example/x"}"#, "one purge at a time");
        refused(r#"{"tag": "red", "sfot": true}"#, "unknown field \"sfot\"");
        let typed = parse(br#"{"prefix": "HTTPS://Shop.Example:8443/img/"}"#);
        assert_eq!(typed, Ok((Purge::Prefix("https://shop.example/img/".into()), false)), "as the keys hold it");
        refused(r#"{"url": "a.example/x"}"#, "with its scheme and host");
        refused(r#"{"url": "ftp://a.example/x"}"#, "with its scheme and host");
        refused(r#"{"prefix": ""}"#, "with its scheme and host");
        refused(r#"{"prefix": "https://"}"#, "with its scheme and host");
        refused(r#"{"tag": ""}"#, "non-empty string");
        refused(r#"{"url": 5}"#, "non-empty string");
        refused(r#"{"all": false}"#, "\"all\" is true");
        refused(r#"{"soft": "yes", "all": true}"#, "true or false");
        refused(r#"{"regex": "("}"#, "bad regular expression");
        refused(r#"["all"]"#, "a JSON object");
        refused("{}", "say what to purge");
        refused("{", "not JSON");
    }

    #[test]
    fn a_typed_url_is_named_as_requests_name_it() {
        assert_eq!(
            as_requested("https://a.example/wiki/東京?q=\"x\""),
            "https://a.example/wiki/%E6%9D%B1%E4%BA%AC?q=%22x%22"
        );
        assert_eq!(as_requested("https://a.example/x?a=%C3%BC"), "https://a.example/x?a=%C3%BC", "escapes stay");
    }
}
