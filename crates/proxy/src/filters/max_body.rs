//! `max_body` (or `global.limits.max_body`): a request whose `Content-Length` is over the
//! limit gets 413 at once; a body of unknown length is counted as it streams, and cut
//! with 413 (or the connection closed, once the response has started) when it passes it.
use crate::answers::Reason;
use crate::body::declared_length;
use crate::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use http::request;

pub struct MaxBody {
    pub max: u64,
}

impl Filter for MaxBody {
    fn describe(&self) -> FilterInfo {
        FilterInfo::new("max_body", Phases::REQUEST).headline(bytes(self.max)).param("max_bytes", self.max.to_string())
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if declared_length(&head.headers).is_some_and(|len| len > self.max) {
            return Decision::answer(cx.answer(Reason::BodyTooLarge));
        }
        cx.limit_body(self.max);
        Decision::Continue
    }
}

/// `10m`, `64k`, or a number of bytes: how the config would write it.
fn bytes(n: u64) -> String {
    for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if n >= size && n & (size - 1) == 0 {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{decide, head, Fixture};

    #[test]
    fn a_declared_length_over_the_limit_gets_413_and_others_are_limited_as_they_stream() {
        let filter = MaxBody { max: 1024 };
        let f = Fixture::plain();
        let answer = decide(&filter, &mut head("POST", "/", &[("content-length", "1025")]), &mut f.cx()).unwrap();
        assert_eq!(answer.status(), 413);
        let mut cx = f.cx();
        assert!(decide(&filter, &mut head("POST", "/", &[("transfer-encoding", "chunked")]), &mut cx).is_none());
        assert_eq!(cx.body_limit, Some(1024));
        assert_eq!(filter.describe().label(), "max_body(1k)");
        assert_eq!(bytes(10 << 20), "10m");
        assert_eq!(bytes(1500), "1500");
    }
}
