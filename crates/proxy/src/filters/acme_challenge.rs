//! ACME HTTP-01 challenges (RFC 8555 §8.3): a CA fetching
//! `/.well-known/acme-challenge/TOKEN` for a pending order gets the key authorization, on
//! any plain listener, for any host, before routing (front chain). While no challenge is
//! pending this costs one atomic load.
use crate::action;
use crate::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use forecourt_tls::auto::ManagedCerts;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{request, StatusCode};
use std::sync::Arc;

pub struct AcmeChallenge {
    pub store: Arc<ManagedCerts>,
}

impl Filter for AcmeChallenge {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("acme_challenge", Phases::REQUEST).param("path", forecourt_tls::auto::HTTP_CHALLENGE_PATH)
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if cx.conn.tls {
            return Decision::Continue;
        }
        let Some(answer) = self.store.http_challenge(head.uri.path()) else { return Decision::Continue };
        let mut resp = action::text(StatusCode::OK, answer.into());
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        Decision::answer(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{decide, head, Fixture};

    #[test]
    fn a_pending_token_is_answered_over_plain_http_only() {
        let store = Arc::new(ManagedCerts::default());
        store.set_http_challenge("tok", Some("tok.key".into()));
        let filter = AcmeChallenge { store };
        let path = "/.well-known/acme-challenge/tok";
        let answer = decide(&filter, &mut head("GET", path, &[]), &mut Fixture::plain().cx()).unwrap();
        assert_eq!(answer.status(), 200);
        assert!(decide(&filter, &mut head("GET", path, &[]), &mut Fixture::tls("a").cx()).is_none());
        let other = "/.well-known/acme-challenge/other";
        assert!(decide(&filter, &mut head("GET", other, &[]), &mut Fixture::plain().cx()).is_none());
    }
}
