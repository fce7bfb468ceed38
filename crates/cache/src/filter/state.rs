//! What the cache filter remembers of one request between its phases.
use super::part::Window;
use crate::fills::{Fill, Leader};
use crate::status::CacheStatus;
use crate::stored::Stored;
use http::{HeaderMap, Method, Uri};
use std::sync::Arc;

/// Kept in the request's context from the request phase to the response phases.
pub struct CacheState {
    pub key: Arc<str>,
    /// The URL part of the key (what purges and invalidations name).
    pub url: Arc<str>,
    pub method: Method,
    pub uri: Uri,
    /// The request's headers: the response phase decides on them (Authorization, Vary,
    /// the client's own validators and ranges).
    pub headers: HeaderMap,
    pub request_time: u64,
    /// A stored response being validated (or kept for stale-if-error).
    pub stale: Option<Arc<Stored>>,
    pub leader: Option<Leader>,
    pub follow: Option<Arc<Fill>>,
    /// An unsafe method: invalidate on success.
    pub invalidates: bool,
    /// No storing (bypass, a miss with conditions the origin must see).
    pub store: bool,
    /// A HEAD asked upstream as a GET, so that the response can be stored (nginx's
    /// `proxy_cache_convert_head`, Varnish's default); the client gets the head only.
    pub head_as_get: bool,
    /// The client's range (`bytes=0-`, or one `range_fill.rs` widens) is kept from the
    /// upstream, its validators sent on: its answer is made from the whole response
    /// (`client_conditions.rs`).
    pub client_conditions: bool,
    /// The client asked for a range, which goes upstream as the whole: its part is cut
    /// from the whole as it streams (`range_fill.rs`).
    pub range_fill: bool,
    /// A range that goes upstream as it is: a 206 to it is stored as a part of the object
    /// (`partial.rs`).
    pub store_part: bool,
    /// What of the body the client gets when not all of it (`part.rs`): nothing (a 304 or
    /// a HEAD made from the whole) or a range's part, once the response head said how long
    /// the whole is; the rest goes to the store (or is drained), not to it.
    pub window: Option<Window>,
    pub status: CacheStatus,
    /// Set by the response phase when the body is to be stored.
    pub pending: Option<Pending>,
}

/// A response head that will be stored once its body has streamed in whole.
pub struct Pending {
    pub stored: Stored,
}
