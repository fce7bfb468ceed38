//! Body types: the client's request body on its way upstream (with its limit and read
//! timeout), and every response body on its way to the client. Each stage that makes a
//! body (the HTTP servers, the upstream pool, a filter that wraps one) hands it on as one
//! of these, so none of them knows the others.
mod error;
mod request;
mod response;

pub use error::ClientBodyError;
pub use request::{declared_length, BodySource, ClientBody, IncomingBody, RequestBody};
pub use response::{FileRegion, ProxyBody};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
