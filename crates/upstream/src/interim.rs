//! Interim responses: the 1xx heads an origin sends before its final response, other
//! than `100 Continue` (this hop's own) and `101` (an upgrade's): `103 Early Hints`, `102
//! Processing`. RFC 9110 §15.2 has a proxy pass them on. The inline HTTP/1.1 client hands
//! each to the request's sink, when the client side has one (an HTTP/1.1 client waiting
//! for this request's answer).
use http::response;

/// Takes an origin's interim responses to the client waiting for the final one.
pub trait InterimSink {
    /// One interim response's head, as the origin sent it.
    fn interim(&self, head: &response::Parts);
}
