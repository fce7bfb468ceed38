//! What a forwarding route sends to, and how: one upstream group or a split between
//! several, and which requests its tries may send again. These are the settings of the
//! route's `Forward` action.
use super::split::Split;
use forecourt_upstream::{is_idempotent, PickInput, UpstreamGroup};
use http::header::HeaderValue;
use http::Method;
use std::sync::Arc;

/// Which requests a route's tries may send again after one reached a server.
#[derive(Clone, Copy, Debug)]
pub struct Replay {
    /// Methods that are not idempotent too (`retry_non_idempotent = true`): for a backend
    /// known to be safe against a repeated POST.
    pub any_method: bool,
    /// Request bodies of at most this many bytes, of a known length, are read in full
    /// before the first try and kept for the next ones (`retry_buffer`); larger ones
    /// stream, and are sent again only if no byte of them left.
    pub max_body: u64,
}

impl Default for Replay {
    fn default() -> Self {
        Replay { any_method: false, max_body: 64 * 1024 }
    }
}

/// Where a forwarding route sends its requests.
pub enum Target {
    Group(Arc<UpstreamGroup>),
    /// One of several groups, by weight (`split = [...]`).
    Split(Split),
}

/// The `Forward` action: where, which requests may be sent again, and how much of a
/// request body arrives before an upstream is asked.
pub struct Forward {
    pub to: Target,
    pub replay: Replay,
    /// The first this many bytes of a request body are read before an upstream is asked
    /// (`request_buffer`; 0 streams every body): a slow upload then ties up a connection
    /// to the proxy only, and one that ends within goes upstream whole, with its length.
    pub buffer: u64,
}

/// `request_buffer`'s default: most form posts and API calls fit, and a slow-body attack
/// never reaches the origin; bounded, since it is memory per request.
pub const DEFAULT_REQUEST_BUFFER: u64 = 64 * 1024;

impl Forward {
    pub fn new(to: Target) -> Forward {
        Forward { to, replay: Replay::default(), buffer: DEFAULT_REQUEST_BUFFER }
    }

    /// The group for this request, and the cookie that keeps its client on that side.
    pub fn choose(&self, input: &PickInput<'_>) -> (&Arc<UpstreamGroup>, Option<&HeaderValue>) {
        match &self.to {
            Target::Group(group) => (group, None),
            Target::Split(split) => split.choose(input),
        }
    }

    /// Every group it may send to.
    pub fn groups(&self) -> Vec<&Arc<UpstreamGroup>> {
        match &self.to {
            Target::Group(group) => vec![group],
            Target::Split(split) => split.targets().iter().map(|t| &t.group).collect(),
        }
    }

    /// The body bytes kept for a retry of a request with this method, before the group is
    /// chosen: `retry_buffer` when a group it may go to retries and the method may be
    /// repeated, else 0.
    pub fn keeps_for_retry(&self, method: &Method) -> u64 {
        let repeatable = self.replay.any_method || is_idempotent(method);
        let retries = match &self.to {
            Target::Group(group) => group.policies.retry.attempts > 1,
            Target::Split(split) => split.targets().iter().any(|t| t.group.policies.retry.attempts > 1),
        };
        if repeatable && retries {
            self.replay.max_body
        } else {
            0
        }
    }
}
