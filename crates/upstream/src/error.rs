//! What an exchange with an upstream fails with, and a request with a body that was never
//! sent (so that it may go to another server).
use crate::h1::H1Error;
use http::Request;

/// Why an exchange with an upstream failed; the proxy maps these to 502 or 504.
#[derive(Debug)]
pub enum UpstreamError {
    Connect(std::io::Error),
    ConnectTimeout,
    ResponseTimeout,
    /// The connection failed during the exchange (reset, closed, malformed response).
    Exchange(hyper::Error),
    /// The same, on the inline HTTP/1.1 client.
    Http1(H1Error),
}

impl UpstreamError {
    /// True when the upstream was too slow rather than broken (504 rather than 502).
    pub fn is_timeout(&self) -> bool {
        matches!(self, UpstreamError::ConnectTimeout | UpstreamError::ResponseTimeout)
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(e) => write!(f, "connect failed: {e}"),
            UpstreamError::ConnectTimeout => f.write_str("connect timed out"),
            UpstreamError::ResponseTimeout => f.write_str("response header timed out"),
            UpstreamError::Exchange(e) => write!(f, "exchange failed: {e}"),
            UpstreamError::Http1(e) => write!(f, "exchange failed: {e}"),
        }
    }
}

/// A request with a body that failed; `unsent` holds it if no byte of it reached the
/// server (so it may go to another).
pub struct SendFailure<B> {
    pub error: UpstreamError,
    pub unsent: Option<Request<B>>,
}

impl<B> From<UpstreamError> for SendFailure<B> {
    fn from(error: UpstreamError) -> Self {
        SendFailure { error, unsent: None }
    }
}
