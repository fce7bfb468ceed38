//! Why Forecourt answers a request itself: the catalogue's entries, each with its status
//! and the words a client is shown (never a backend's address or an internal name).
use http::StatusCode;

/// One reason for a local answer. Its name is the `reason` label of
/// `forecourt_local_responses_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A malformed request (head, target, framing or body).
    BadRequest,
    NoRoute,
    /// `TRACE`, unless the route lists it.
    MethodNotAllowed,
    /// The client stopped sending its body.
    BodyTimeout,
    BodyTooLarge,
    UriTooLong,
    /// A request for a host that the connection's certificate does not cover.
    Misdirected,
    HeadersTooLarge,
    /// A request body in a transfer coding Forecourt does not decode (`gzip, chunked`):
    /// RFC 9112 §6.1's 501, as nginx answers.
    CodingNotImplemented,
    /// A request line in an HTTP major version other than 1 (`GET / HTTP/2.0`; HTTP/2
    /// starts with its preface): RFC 9110 §15.6.6's 505, as nginx answers.
    VersionNotSupported,
    ClientCertificateRequired,
    /// A rate limit (`[limits.NAME]`) refused the request.
    RateLimited,
    /// The client's address is not served by this route (`allow` / `deny` lists).
    AddressDenied,
    /// The client is banned for a while (`[bans]`: a rule it tripped, or the admin API).
    Banned,
    /// A challenge page (`[challenge]`): the client must show it can run it first.
    Challenged,
    /// A challenge's solution was wrong, expired, replayed or for another address.
    ChallengeFailed,
    /// The WAF (`[waf.NAME]`) judged the request an attack.
    WafBlocked,
    /// Forecourt has no room for the request now (the WAF's `upload_memory` is taken).
    Busy,
    /// No server of the upstream can take the request (all down, ejected or full).
    NoServer,
    /// The upstream's request queue is full, or the wait in it too long.
    UpstreamBusy,
    UpstreamTimeout,
    /// No connection to a server could be made.
    UpstreamUnreachable,
    /// The server broke the exchange or answered with something that cannot be passed on.
    UpstreamFailed,
}

impl Reason {
    pub const ALL: [Reason; 23] = [
        Reason::BadRequest,
        Reason::NoRoute,
        Reason::MethodNotAllowed,
        Reason::BodyTimeout,
        Reason::BodyTooLarge,
        Reason::UriTooLong,
        Reason::Misdirected,
        Reason::HeadersTooLarge,
        Reason::CodingNotImplemented,
        Reason::VersionNotSupported,
        Reason::ClientCertificateRequired,
        Reason::RateLimited,
        Reason::AddressDenied,
        Reason::Banned,
        Reason::Challenged,
        Reason::ChallengeFailed,
        Reason::WafBlocked,
        Reason::Busy,
        Reason::NoServer,
        Reason::UpstreamBusy,
        Reason::UpstreamTimeout,
        Reason::UpstreamUnreachable,
        Reason::UpstreamFailed,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Reason::BadRequest => StatusCode::BAD_REQUEST,
            Reason::NoRoute => StatusCode::NOT_FOUND,
            Reason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Reason::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Reason::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::UriTooLong => StatusCode::URI_TOO_LONG,
            Reason::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            Reason::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Reason::CodingNotImplemented => StatusCode::NOT_IMPLEMENTED,
            Reason::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Reason::ClientCertificateRequired => StatusCode::FORBIDDEN,
            Reason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reason::AddressDenied
            | Reason::Banned
            | Reason::Challenged
            | Reason::ChallengeFailed
            | Reason::WafBlocked => StatusCode::FORBIDDEN,
            Reason::Busy | Reason::NoServer | Reason::UpstreamBusy => StatusCode::SERVICE_UNAVAILABLE,
            Reason::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Reason::UpstreamUnreachable | Reason::UpstreamFailed => StatusCode::BAD_GATEWAY,
        }
    }

    /// The label in metrics and the `error` field of a JSON answer.
    pub fn name(self) -> &'static str {
        match self {
            Reason::BadRequest => "bad_request",
            Reason::NoRoute => "no_route",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::BodyTimeout => "body_timeout",
            Reason::BodyTooLarge => "body_too_large",
            Reason::UriTooLong => "uri_too_long",
            Reason::Misdirected => "misdirected",
            Reason::HeadersTooLarge => "headers_too_large",
            Reason::CodingNotImplemented => "coding_not_implemented",
            Reason::VersionNotSupported => "version_not_supported",
            Reason::ClientCertificateRequired => "client_certificate_required",
            Reason::RateLimited => "rate_limited",
            Reason::AddressDenied => "address_denied",
            Reason::Banned => "banned",
            Reason::Challenged => "challenged",
            Reason::ChallengeFailed => "challenge_failed",
            Reason::WafBlocked => "waf_blocked",
            Reason::Busy => "busy",
            Reason::NoServer => "no_server",
            Reason::UpstreamBusy => "upstream_busy",
            Reason::UpstreamTimeout => "upstream_timeout",
            Reason::UpstreamUnreachable => "upstream_unreachable",
            Reason::UpstreamFailed => "upstream_failed",
        }
    }

    /// One sentence for the person or program that sent the request.
    pub fn message(self) -> &'static str {
        match self {
            Reason::BadRequest => "The request is malformed.",
            Reason::NoRoute => "Nothing is served at this address.",
            Reason::MethodNotAllowed => "This method is not allowed here.",
            Reason::BodyTimeout => "The request body did not arrive in time.",
            Reason::BodyTooLarge => "The request body is larger than this site accepts.",
            Reason::UriTooLong => "The request address is longer than this site accepts.",
            Reason::Misdirected => "This connection cannot serve that host; open a new connection for it.",
            Reason::HeadersTooLarge => "The request headers are larger than this site accepts.",
            Reason::CodingNotImplemented => {
                "The request body's transfer coding is not supported; send it chunked or with a Content-Length."
            }
            Reason::VersionNotSupported => "This site speaks HTTP/1.0, HTTP/1.1 and HTTP/2 only.",
            Reason::ClientCertificateRequired => "This site requires a client certificate, over HTTPS.",
            Reason::RateLimited => "Too many requests; try again after the time Retry-After gives.",
            Reason::AddressDenied => "Requests from this address are not served here.",
            Reason::Banned => "Requests from this address are refused for a while.",
            Reason::Challenged => "This site checks that visitors are browsers: open the page in one, with JavaScript.",
            Reason::ChallengeFailed => {
                "The check did not pass (wrong, expired or already used); reload the page to try again."
            }
            Reason::WafBlocked => "The request looks like an attack on this site, so it was refused.",
            Reason::Busy => "The site is too busy to take this request now; try again shortly.",
            Reason::NoServer => "No server can take the request right now; try again shortly.",
            Reason::UpstreamBusy => "The service is at its limit; try again shortly.",
            Reason::UpstreamTimeout => "The service did not answer in time.",
            Reason::UpstreamUnreachable => "The service cannot be reached.",
            Reason::UpstreamFailed => "The service failed to answer properly.",
        }
    }

    /// The gRPC status for an HTTP status, as gRPC maps them
    /// (`doc/http-grpc-status-mapping.md`): INTERNAL, UNAUTHENTICATED, PERMISSION_DENIED,
    /// UNIMPLEMENTED, UNAVAILABLE, else UNKNOWN.
    pub fn grpc_status(self) -> u8 {
        match self.status().as_u16() {
            400 => 13,
            401 => 16,
            403 => 7,
            404 => 12,
            429 | 502 | 503 | 504 => 14,
            _ => 2,
        }
    }

    /// The reason for an HTTP status the HTTP/1 server refuses a request with.
    pub fn for_refusal(status: StatusCode) -> Reason {
        match status {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => Reason::HeadersTooLarge,
            StatusCode::URI_TOO_LONG => Reason::UriTooLong,
            StatusCode::NOT_IMPLEMENTED => Reason::CodingNotImplemented,
            StatusCode::HTTP_VERSION_NOT_SUPPORTED => Reason::VersionNotSupported,
            _ => Reason::BadRequest,
        }
    }

    pub(crate) fn index(self) -> usize {
        Reason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once_with_a_distinct_name() {
        let names: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), Reason::ALL.len());
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(r.status().is_client_error() || r.status().is_server_error());
        }
        assert_eq!(Reason::NoServer.grpc_status(), 14, "UNAVAILABLE");
        assert_eq!(Reason::NoRoute.grpc_status(), 12, "UNIMPLEMENTED");
    }
}
