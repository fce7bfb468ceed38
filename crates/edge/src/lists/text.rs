//! The text of a list file or feed. Plain: one CIDR or address a line, `#` or `;` starting
//! a comment (FireHOL netsets, Spamhaus DROP's `1.2.3.0/24 ; SBL123`), blank lines
//! ignored. JSON: one object a line with a `cidr` (Spamhaus DROP's JSON, whose metadata
//! line has none and is skipped), or an array of CIDR strings or such objects. Every bad
//! line is reported by its number, not just the first.
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
}
