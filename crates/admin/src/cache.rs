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

/// Parses a purge request and does it; what was purged, or why not.
pub fn purge(store: &Store, body: &[u8]) -> Result<String, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let purge = if let Some(url) = text("url") {
        Purge::Url(as_requested(&url))
    } else if let Some(prefix) = text("prefix") {
        Purge::Prefix(as_requested(&prefix))
    } else if let Some(pattern) = text("regex") {
        Purge::Pattern(UrlPattern::new(&pattern)?)
    } else if let Some(tag) = text("tag") {
        Purge::Tag(tag)
    } else if v.get("all").and_then(Value::as_bool) == Some(true) {
        Purge::All
    } else {
        let what = "{\"url\": ...}, {\"prefix\": ...}, {\"regex\": ...}, {\"tag\": ...} or {\"all\": true}";
        return Err(format!("say what to purge: {what}"));
    };
    match v.get("soft") {
        None | Some(Value::Bool(false)) => store.purge(&purge),
        Some(Value::Bool(true)) => {
            store.soft_purge(&purge);
            return Ok(format!("soft-purged {purge:?}"));
        }
        Some(other) => return Err(format!("\"soft\" is true or false, not {other}")),
    }
    Ok(format!("purged {purge:?}"))
}

/// A URL as typed (`https://example.com/wiki/東京`, as a browser's address bar shows it) in
/// the form requests reach the cache: Forecourt escapes what a target may not hold, as a
/// browser does, so the keys hold `/wiki/%E6%9D%B1%E4%BA%AC`.
fn as_requested(url: &str) -> String {
    forecourt_proxy::percent::as_browsers_send(url.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::as_requested;

    #[test]
    fn a_typed_url_is_named_as_requests_name_it() {
        assert_eq!(
            as_requested("https://a.example/wiki/東京?q=\"x\""),
            "https://a.example/wiki/%E6%9D%B1%E4%BA%AC?q=%22x%22"
        );
        assert_eq!(as_requested("https://a.example/x?a=%C3%BC"), "https://a.example/x?a=%C3%BC", "escapes stay");
    }
}
