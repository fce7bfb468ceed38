//! The text of a list file or feed. Plain: one CIDR or address a line, `#` or `;` starting
//! a comment (FireHOL netsets, Spamhaus DROP's `1.2.3.0/24 ; SBL123`), blank lines
//! ignored. JSON: one object a line with a `cidr` (Spamhaus DROP's JSON, whose metadata
//! line has none and is skipped), an array of CIDR strings or such objects, or one
//! document as the big publishers write theirs (`document`). Every bad line is reported
//! by its number, not just the first.
use forecourt_proxy::cidr::Cidr;
use serde_json::Value;

/// How a list's text is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON when the text starts with `{` or `[`, else plain.
    Auto,
    Plain,
    Json,
}

type Parsed = Result<Vec<Cidr>, Vec<(usize, String)>>;

/// The CIDRs of plain `text`, or the bad lines: (line number from 1, why).
pub fn parse(text: &str) -> Parsed {
    collect(text.lines().enumerate().map(|(i, line)| {
        let entry = line.split(['#', ';']).next().unwrap_or("").trim();
        (i + 1, (!entry.is_empty()).then(|| entry.parse::<Cidr>()))
    }))
}

/// The CIDRs of `text` written as `format` says.
pub fn parse_as(text: &str, format: Format) -> Parsed {
    let json = match format {
        Format::Auto => text.trim_start().starts_with(['{', '[']),
        Format::Plain => false,
        Format::Json => true,
    };
    if !json {
        return parse(text);
    }
    if text.trim_start().starts_with('[') {
        return match serde_json::from_str::<Vec<Value>>(text) {
            Ok(items) => collect(items.iter().enumerate().map(|(i, v)| (i + 1, entry(v)))),
            Err(e) => Err(vec![(e.line(), format!("bad JSON: {e}"))]),
        };
    }
    // One object over many lines; several on a line each fail this, and are read below.
    if let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(text) {
        return document(text, &doc);
    }
    collect(text.lines().enumerate().map(|(i, line)| {
        let line = line.trim();
        let item = match line.is_empty() {
            true => None,
            false => match serde_json::from_str::<Value>(line) {
                Ok(v) => entry(&v),
                Err(e) => Some(Err(format!("bad JSON: {e}"))),
            },
        };
        (i + 1, item)
    }))
}

/// The CIDR a JSON item gives: a string, or an object's `cidr`; `None` for an object
/// without one (metadata).
fn entry(v: &Value) -> Option<Result<Cidr, String>> {
    match v {
        Value::String(s) => Some(s.parse()),
        Value::Object(o) => o.get("cidr").map(|c| c.as_str().ok_or("`cidr` is not a string".to_owned())?.parse()),
        _ => Some(Err("neither a CIDR string nor an object with `cidr`".into())),
    }
}

/// The CIDRs of one JSON document, as the publishers of address ranges write them:
/// Google's crawler and cloud ranges and Bing's (`"prefixes": [{"ipv4Prefix": ...},
/// {"ipv6Prefix": ...}]`), AWS's (`"prefixes": [{"ip_prefix": ...}]`, `"ipv6_prefixes":
/// [{"ipv6_prefix": ...}]`), Fastly's (`"addresses": [...]`), GitHub's `meta` (arrays of
/// CIDRs beside others of keys and domains). Taken: the values of keys that name a
/// prefix, and the strings of arrays that are written as addresses; other strings (dates,
/// regions, domains, keys) are not addresses and are passed over. A document with none is
/// an error: it is not a list of addresses.
fn document(text: &str, doc: &serde_json::Map<String, Value>) -> Parsed {
    let mut found = Vec::new();
    walk_object(doc, &mut found);
    if found.is_empty() {
        return Err(vec![(1, "no CIDR in this JSON document".into())]);
    }
    // The line of each bad one, found by its text: serde_json's values keep no position.
    let line_of = |s: &str| {
        let at = text.find(&format!("\"{s}\"")).unwrap_or(0);
        text[..at].matches('\n').count() + 1
    };
    collect(found.iter().map(|s| (line_of(s), Some(s.parse::<Cidr>()))))
}

fn walk_object<'a>(object: &'a serde_json::Map<String, Value>, found: &mut Vec<&'a str>) {
    for (key, value) in object {
        match value {
            Value::String(s) if names_a_prefix(key) => found.push(s),
            other => walk(other, found),
        }
    }
}

fn walk<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(o) => walk_object(o, found),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) if written_as_address(s) => found.push(s),
                    other => walk(other, found),
                }
            }
        }
        _ => {}
    }
}

/// `cidr`, `prefix`, `ip_prefix`, `ipv4Prefix`, `ipv6_prefix`, ...
fn names_a_prefix(key: &str) -> bool {
    let key: String = key.chars().filter(|c| *c != '_').collect::<String>().to_ascii_lowercase();
    matches!(key.as_str(), "cidr" | "prefix" | "ipprefix" | "ipv4prefix" | "ipv6prefix")
}

/// Whether `s` is written as an address or a CIDR would be (a mistyped one included, so
/// that it is reported): IPv4's digits and dots, or IPv6's hexadecimal digits and colons.
fn written_as_address(s: &str) -> bool {
    let v4 = s.starts_with(|c: char| c.is_ascii_digit()) && s.chars().all(|c| c.is_ascii_digit() || ".:/".contains(c));
    let v6 = s.contains(':') && s.chars().all(|c| c.is_ascii_hexdigit() || ".:/".contains(c));
    v4 || v6
}

fn collect(items: impl Iterator<Item = (usize, Option<Result<Cidr, String>>)>) -> Parsed {
    let mut cidrs = Vec::new();
    let mut bad = Vec::new();
    for (n, item) in items {
        match item {
            None => {}
            Some(Ok(c)) => cidrs.push(c),
            Some(Err(e)) if bad.len() < 10 => bad.push((n, e)),
            Some(Err(_)) => {}
        }
    }
    match bad.is_empty() {
        true => Ok(cidrs),
        false => Err(bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netsets_and_drop_lists() {
        let ok = parse("# FireHOL\n1.2.3.0/24\n\n5.6.7.8 ; SBL1\n  2001:db8::/32  # v6\n").unwrap();
        assert_eq!(ok.len(), 3);
        let bad = parse("1.2.3.0/24\nnot-an-address\n1.2.3.0/33\n").unwrap_err();
        assert_eq!(bad.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn spamhaus_json_and_arrays() {
        let drop = "{\"cidr\":\"1.10.16.0/20\",\"sblid\":\"SBL256894\",\"rir\":\"apnic\"}\n\
                    {\"cidr\":\"2001:db8::/32\",\"sblid\":\"SBL1\",\"rir\":\"ripencc\"}\n\
                    {\"type\":\"metadata\",\"timestamp\":1700000000,\"size\":2,\"records\":2}\n";
        assert_eq!(parse_as(drop, Format::Auto).unwrap().len(), 2);
        assert_eq!(parse_as("[\"10.0.0.0/8\", {\"cidr\": \"192.0.2.1\"}]", Format::Auto).unwrap().len(), 2);
        let bad = parse_as("{\"cidr\":\"10.0.0.0/8\"}\n{oops\n{\"cidr\":\"300.0.0.0/8\"}\n", Format::Json).unwrap_err();
        assert_eq!(bad.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 3]);
        assert!(parse_as("10.0.0.0/8\n", Format::Auto).is_ok(), "plain text stays plain");
    }

    #[test]
    fn documents_as_google_aws_fastly_and_github_publish_them() {
        let google = r#"{
  "creationTime": "2026-12-01T23:00:50.000000",
  "prefixes": [
    {
      "ipv6Prefix": "2001:4860:4801:10::/64"
    },
    {
      "ipv4Prefix": "66.249.64.0/27"
    }
  ]
}"#;
        assert_eq!(parse_as(google, Format::Auto).unwrap().len(), 2);
        let aws = r#"{"syncToken": "1733000000", "createDate": "2026-12-01-00-00-00",
            "prefixes": [{"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON",
                          "network_border_group": "ap-northeast-2"}],
            "ipv6_prefixes": [{"ipv6_prefix": "2600:1f14::/35", "region": "us-west-2", "service": "EC2"}]}"#;
        assert_eq!(parse_as(aws, Format::Json).unwrap().len(), 2);
        let fastly = r#"{"addresses": ["23.235.32.0/20", "43.249.72.0/22"], "ipv6_addresses": ["2a04:4e40::/32"]}"#;
        assert_eq!(parse_as(fastly, Format::Auto).unwrap().len(), 3);
        let github = r#"{"verifiable_password_authentication": false,
            "ssh_key_fingerprints": {"SHA256_ED25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"},
            "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"],
            "hooks": ["192.30.252.0/22", "2a0a:a440::/29"], "web": ["140.82.112.0/20"],
            "domains": {"website": ["*.github.com", "github.com", "cafe.be"]}}"#;
        assert_eq!(parse_as(github, Format::Auto).unwrap().len(), 3, "keys and domains passed over");
        let bad = "{\n  \"prefixes\": [\n    {\"ipv4Prefix\": \"66.249.64.0/33\"},\n    {\"ipv4Prefix\": \"66.249.65.0/27\"},\n    \"10.0.0.300\"\n  ]\n}";
        let lines: Vec<usize> = parse_as(bad, Format::Auto).unwrap_err().iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [3, 5], "each bad one by its line");
        let none = parse_as(r#"{"creationTime": "2026-12-01", "prefixes": []}"#, Format::Auto).unwrap_err();
        assert!(none[0].1.contains("no CIDR"), "{none:?}");
        let one_line = parse_as(r#"{"cidr": "10.0.0.0/8", "sblid": "SBL1"}"#, Format::Auto).unwrap();
        assert_eq!(one_line.len(), 1, "a Spamhaus line alone is a document with its cidr");
    }
}
