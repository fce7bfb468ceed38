//! `https_redirect = true`: a plain HTTP request gets a 308 to the same URL over HTTPS
//! (on the first TLS listener's port). ACME HTTP-01 challenges stay on plain HTTP.
use crate::action;
use crate::answers::Reason;
use crate::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use crate::normal_path::normalized;
use crate::router::request_host;
use http::{request, StatusCode};

pub struct HttpsRedirect {
    pub port: u16,
}

impl Filter for HttpsRedirect {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("https_redirect", Phases::REQUEST).param("port", self.port.to_string())
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        let host = request_host(&head.uri, &head.headers);
        let path = head.uri.path_and_query().map_or("/", |p| p.as_str());
        if cx.conn.tls || is_http_challenge(head.uri.path()) || host.is_empty() {
            return Decision::Continue;
        }
        let to = match self.port {
            443 => format!("https://{host}{path}"),
            port => format!("https://{host}:{port}{path}"),
        };
        let resp =
            action::redirect(StatusCode::PERMANENT_REDIRECT, &to).unwrap_or_else(|| cx.answer(Reason::BadRequest));
        Decision::answer(resp)
    }
}

/// Whether the path, as routes and backends read it, is an ACME HTTP-01 challenge's:
/// `/.well-known/acme-challenge/..%2faccount` is `/.well-known/account`, and does not stay
/// on plain HTTP.
fn is_http_challenge(path: &str) -> bool {
    normalized(path).is_some_and(|p| p.starts_with(forecourt_tls::auto::HTTP_CHALLENGE_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{decide, head, Fixture};

    #[test]
    fn plain_requests_go_to_https_with_their_path() {
        let filter = HttpsRedirect { port: 8443 };
        let mut h = head("GET", "/a?b=1", &[("host", "example.com:8080")]);
        let answer = decide(&filter, &mut h, &mut Fixture::plain().cx()).unwrap();
        assert_eq!(answer.status(), 308);
        assert_eq!(answer.headers()["location"], "https://example.com:8443/a?b=1");
        let on_443 = decide(&HttpsRedirect { port: 443 }, &mut h, &mut Fixture::plain().cx()).unwrap();
        assert_eq!(on_443.headers()["location"], "https://example.com/a?b=1");
        assert!(decide(&filter, &mut h, &mut Fixture::tls("example.com").cx()).is_none());
        let mut challenge = head("GET", "/.well-known/acme-challenge/x", &[("host", "example.com")]);
        assert!(decide(&filter, &mut challenge, &mut Fixture::plain().cx()).is_none());
        for climbing_out in ["/.well-known/acme-challenge/../account", "/.well-known/acme-challenge/..%2faccount"] {
            let mut h = head("GET", climbing_out, &[("host", "example.com")]);
            let answer = decide(&filter, &mut h, &mut Fixture::plain().cx());
            assert_eq!(answer.map(|a| a.status()), Some(StatusCode::PERMANENT_REDIRECT), "{climbing_out}");
        }
    }
}
