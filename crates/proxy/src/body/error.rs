//! Why a client's request body could not be forwarded.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBodyError {
    TooLarge,
    Timeout,
    /// Malformed (bad chunked framing) or cut short by the client.
    Invalid,
}

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientBodyError::TooLarge => "request body larger than allowed",
            ClientBodyError::Timeout => "request body read timed out",
            ClientBodyError::Invalid => "request body malformed or incomplete",
        })
    }
}

impl std::error::Error for ClientBodyError {}
