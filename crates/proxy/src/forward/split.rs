//! Weighted traffic splits between upstream groups on one route (canary, blue-green):
//! an override by header or cookie first, then the client's side kept by its address or
//! by a cookie, then the weights. Changing weights is a reload.
use forecourt_upstream::{cookie, HashRing, PickInput, UpstreamGroup};
use http::header::{HeaderName, HeaderValue};
use std::net::IpAddr;
use std::sync::Arc;

/// One side of a split.
pub struct SplitTarget {
    pub group: Arc<UpstreamGroup>,
    /// 0: reached only through its override.
    pub weight: u32,
    /// A request with this header value goes here, whatever the weights.
    pub when_header: Option<(HeaderName, String)>,
    /// ... or with this cookie value.
    pub when_cookie: Option<(String, String)>,
    /// `Set-Cookie` that keeps a client on this side (cookie stickiness).
    set_cookie: Option<HeaderValue>,
}

impl SplitTarget {
    pub fn new(group: Arc<UpstreamGroup>, weight: u32) -> SplitTarget {
        SplitTarget { group, weight, when_header: None, when_cookie: None, set_cookie: None }
    }

    fn overridden(&self, input: &PickInput<'_>) -> bool {
        let header = self.when_header.as_ref().is_some_and(|(name, want)| {
            input.headers.get_all(name).iter().any(|v| v.as_bytes().eq_ignore_ascii_case(want.as_bytes()))
        });
        header
            || self
                .when_cookie
                .as_ref()
                .is_some_and(|(name, want)| cookie(input.headers, name).is_some_and(|v| v == want.as_bytes()))
    }
}

/// How a client keeps its side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sticky {
    /// A hash of the client address picks the side: the same client, the same side, and
    /// a change of weights moves only the clients in the share that moved.
    Ip,
    /// A cookie names the side (`NAME=UPSTREAM`), set on the first answer.
    Cookie(String),
    /// Every request is drawn anew.
    None,
}

pub struct Split {
    targets: Vec<SplitTarget>,
    total: u64,
    sticky: Sticky,
}

impl Split {
    /// `targets` must have weights summing to more than 0 (checked when compiling).
    pub fn new(mut targets: Vec<SplitTarget>, sticky: Sticky) -> Split {
        if let Sticky::Cookie(name) = &sticky {
            for t in &mut targets {
                let text = format!("{name}={}; Path=/; HttpOnly; SameSite=Lax", t.group.name);
                t.set_cookie = HeaderValue::from_str(&text).ok();
            }
        }
        let total = targets.iter().map(|t| u64::from(t.weight)).sum();
        Split { targets, total, sticky }
    }

    pub fn targets(&self) -> &[SplitTarget] {
        &self.targets
    }

    /// The side for this request, and the cookie to set with its answer.
    pub fn choose(&self, input: &PickInput<'_>) -> (&Arc<UpstreamGroup>, Option<&HeaderValue>) {
        if let Some(t) = self.targets.iter().find(|t| t.overridden(input)) {
            return (&t.group, None);
        }
        let point = match &self.sticky {
            Sticky::Ip => {
                let ip = match input.client {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                    IpAddr::V6(v6) => v6.octets(),
                };
                HashRing::stable_hash(&ip) % self.total
            }
            Sticky::Cookie(name) => {
                let kept = cookie(input.headers, name)
                    .and_then(|side| self.targets.iter().find(|t| t.weight > 0 && t.group.name.as_bytes() == side));
                if let Some(t) = kept {
                    return (&t.group, None);
                }
                forecourt_upstream::random_below(self.total)
            }
            Sticky::None => forecourt_upstream::random_below(self.total),
        };
        let mut below = 0;
        for t in &self.targets {
            below += u64::from(t.weight);
            if point < below {
                return (&t.group, t.set_cookie.as_ref());
            }
        }
        let last = self.targets.last().expect("a split has targets");
        (&last.group, last.set_cookie.as_ref())
    }
}
