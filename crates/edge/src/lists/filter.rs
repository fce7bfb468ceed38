//! `allow` / `deny` on a route: a client outside them gets 403 (the front chain's
//! listeners refuse at accept instead, see `admission`).
use super::list::{refusal, IpList};
use forecourt_proxy::answers::Reason;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use http::request;
use std::sync::Arc;

pub struct IpListFilter {
    pub allow: Vec<Arc<IpList>>,
    pub deny: Vec<Arc<IpList>>,
}

impl Filter for IpListFilter {
    fn describe(&self) -> FilterInfo {
        let names = |lists: &[Arc<IpList>]| lists.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(",");
        FilterInfo::new("ip_lists", Phases::REQUEST).param("allow", names(&self.allow)).param("deny", names(&self.deny))
    }

    fn on_request(&self, _head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        match refusal(&self.allow, &self.deny, cx.client) {
            None => Decision::Continue,
            Some(why) => {
                cx.log("ip_list", why);
                Decision::answer(cx.answer(Reason::AddressDenied))
            }
        }
    }
}
