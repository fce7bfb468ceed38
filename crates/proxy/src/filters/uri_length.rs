//! `global.limits.max_uri_bytes`: a request target longer than this gets 414, before
//! anything else looks at it (front chain, first).
use crate::answers::Reason;
use crate::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use http::request;

pub struct UriLength {
    pub max: usize,
}

impl Filter for UriLength {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("uri_length", Phases::REQUEST).param("max_bytes", self.max.to_string())
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if head.uri.path_and_query().map_or(0, |p| p.as_str().len()) > self.max {
            return Decision::answer(cx.answer(Reason::UriTooLong));
        }
        Decision::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{decide, head, Fixture};

    #[test]
    fn a_target_over_the_limit_gets_414() {
        let f = Fixture::plain();
        let filter = UriLength { max: 10 };
        assert!(decide(&filter, &mut head("GET", "/123456789", &[]), &mut f.cx()).is_none());
        let answer = decide(&filter, &mut head("GET", "/1234?56789", &[]), &mut f.cx()).unwrap();
        assert_eq!(answer.status(), 414);
    }
}
