//! What a route does once its chain lets a request through: answer with a fixed response,
//! redirect, or forward to an upstream (the forwarding settings are the action's own).
mod respond;

pub use respond::{expand, redirect, text};

use crate::forward::Forward;
use bytes::Bytes;
use http::StatusCode;

pub enum Action {
    /// Forward to a group of servers, or to one of several (a split).
    Forward(Forward),
    /// Answer directly with a fixed status and body.
    Respond { status: StatusCode, body: Bytes },
    /// Answer with a redirect; `{uri}`, `{path}`, `{query}` and `{host}` in `to` are
    /// replaced from the request.
    Redirect { status: StatusCode, to: String },
}
