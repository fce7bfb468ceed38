//! `set`, `add` and `remove` rules for one header map (`request_headers`,
//! `response_headers`), applied in that order: remove, then set (replace), then add
//! (append).
use http::header::{HeaderMap, HeaderName, HeaderValue};

#[derive(Debug, Default, Clone)]
pub struct HeaderRules {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderRules {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            headers.append(name.clone(), value.clone());
        }
    }

    /// Whether the rules set or add `name` (a header the route means to send).
    pub fn writes(&self, name: &HeaderName) -> bool {
        self.set.iter().chain(&self.add).any(|(n, _)| n == name)
    }

    /// The rules as parameters: `set`, `add` and `remove`, each a `; `-separated list.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let pairs = |list: &[(HeaderName, HeaderValue)]| {
            list.iter().map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?"))).collect::<Vec<_>>().join("; ")
        };
        let mut out = Vec::new();
        if !self.set.is_empty() {
            out.push(("set", pairs(&self.set)));
        }
        if !self.add.is_empty() {
            out.push(("add", pairs(&self.add)));
        }
        if !self.remove.is_empty() {
            out.push(("remove", self.remove.iter().map(HeaderName::as_str).collect::<Vec<_>>().join("; ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rules_remove_then_set_then_add() {
        let rules = HeaderRules {
            set: vec![(HeaderName::from_static("x-a"), HeaderValue::from_static("1"))],
            add: vec![(HeaderName::from_static("x-b"), HeaderValue::from_static("2"))],
            remove: vec![HeaderName::from_static("x-c")],
        };
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("0"));
        h.insert("x-b", HeaderValue::from_static("1"));
        h.insert("x-c", HeaderValue::from_static("gone"));
        rules.apply(&mut h);
        assert_eq!(h.get("x-a").unwrap(), "1");
        assert_eq!(h.get_all("x-b").iter().count(), 2);
        assert!(h.get("x-c").is_none());
        assert!(rules.writes(&HeaderName::from_static("x-b")) && !rules.writes(&HeaderName::from_static("x-c")));
        assert_eq!(rules.params(), [("set", "x-a: 1".into()), ("add", "x-b: 2".into()), ("remove", "x-c".into())]);
    }
}
