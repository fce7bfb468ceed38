//! Who is challenged: `[challenge.rules.NAME]`, each a set of cheap signals that must all
//! hold (the client in one of some address lists, a User-Agent pattern, browser headers
//! missing); a request that any rule matches is challenged unless it has a pass.
use crate::lists::{in_any, IpList};
use http::header::{HeaderName, USER_AGENT};
use http::request;
use regex::Regex;
use std::net::IpAddr;
use std::sync::Arc;

pub struct Rule {
    pub name: String,
    /// The client is in one of these lists.
    pub lists: Vec<Arc<IpList>>,
    /// The User-Agent matches (a missing one is matched as empty).
    pub user_agent: Option<Regex>,
    /// One of these headers is missing (every browser sends them).
    pub missing_headers: Vec<HeaderName>,
}

impl Rule {
    /// Whether every signal the rule names holds for this request.
    pub fn matches(&self, head: &request::Parts, client: IpAddr) -> bool {
        if !self.lists.is_empty() && !in_any(&self.lists, client) {
            return false;
        }
        if let Some(re) = &self.user_agent {
            let ua = head.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !re.is_match(ua) {
                return false;
            }
        }
        if !self.missing_headers.is_empty() && self.missing_headers.iter().all(|h| head.headers.contains_key(h)) {
            return false;
        }
        true
    }
}

/// The first rule that matches, by name.
pub fn first_match<'r>(rules: &'r [Rule], head: &request::Parts, client: IpAddr) -> Option<&'r str> {
    rules.iter().find(|r| r.matches(head, client)).map(|r| r.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::IpSet;

    fn head(headers: &[(&str, &str)]) -> request::Parts {
        let mut req = http::Request::builder().uri("/");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn every_signal_of_a_rule_must_hold() {
        let listed = Arc::new(IpList::new("tor", IpSet::new(&["10.0.0.0/8".parse().unwrap()])));
        let rules = vec![
            Rule {
                name: "bots".into(),
                lists: vec![],
                user_agent: Some(Regex::new("(?i)curl|^$").unwrap()),
                missing_headers: vec![],
            },
            Rule {
                name: "tor-headless".into(),
                lists: vec![listed],
                user_agent: None,
                missing_headers: vec![HeaderName::from_static("accept-language")],
            },
        ];
        let (inside, outside): (IpAddr, IpAddr) = ("10.1.2.3".parse().unwrap(), "192.0.2.1".parse().unwrap());
        let browser = head(&[("user-agent", "Mozilla/5.0"), ("accept-language", "en")]);
        let bare = head(&[("user-agent", "Mozilla/5.0")]);
        assert_eq!(first_match(&rules, &head(&[("user-agent", "curl/8.0")]), outside), Some("bots"));
        assert_eq!(first_match(&rules, &head(&[]), outside), Some("bots"), "no User-Agent at all");
        assert_eq!(first_match(&rules, &browser, inside), None);
        assert_eq!(first_match(&rules, &bare, inside), Some("tor-headless"));
        assert_eq!(first_match(&rules, &bare, outside), None);
    }
}
