//! The front chain's first filter when `[bans]` is configured: a banned client is answered
//! 403 before anything else looks at its request; every answer is then checked against the
//! rules, and one that counts adds a strike against the client (which may ban it) unless
//! the client is in one of the `exempt` lists.
use super::registry::{Bans, Strike};
use super::rule::Rule;
use crate::lists::{in_any, IpList};
use forecourt_proxy::answers::Reason;
use forecourt_proxy::body::ProxyBody;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use http::{request, Response};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub struct BanFilter {
    pub bans: Arc<Bans>,
    pub rules: Vec<Arc<Rule>>,
    /// `exempt = [...]`: lists whose clients no rule bans (fail2ban's `ignoreip`).
    pub exempt: Vec<Arc<IpList>>,
}

impl Filter for BanFilter {
    fn describe(&self) -> FilterInfo {
        let names: Vec<&str> = self.rules.iter().map(|r| r.name.as_str()).collect();
        let phases = match self.rules.is_empty() {
            true => Phases::REQUEST,
            false => Phases::REQUEST.and(Phases::RESPONSE),
        };
        FilterInfo::new("ban", phases)
            .param("rules", names.join(","))
            .param_list("exempt", self.exempt.iter().map(|l| l.name.as_str()))
    }

    fn on_request(&self, _head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if !self.bans.is_banned(cx.client) {
            return Decision::Continue;
        }
        self.bans.refused_requests.fetch_add(1, Ordering::Relaxed);
        cx.log("ban", "banned");
        Decision::answer(cx.answer(Reason::Banned))
    }

    /// A request refused before the chains (a malformed head, a slowloris's head that never
    /// ended) counts as the answer it got (`status:400`, `status:408`, `bad_request`); an
    /// HTTP/2 connection cut off for abuse as its cause (`h2_flood`, ...).
    fn on_refused(
        &self,
        client: IpAddr,
        status: Option<u16>,
        cause: Option<&'static str>,
        log: &mut Vec<(&'static str, String)>,
    ) {
        self.count_answer(client, status, cause, |said| log.push(("ban", said)));
    }

    fn on_response(&self, resp: &mut Response<ProxyBody>, cx: &mut RequestCtx<'_>) {
        let local = cx.local_answer();
        if local == Some(Reason::Banned) {
            return;
        }
        let client = cx.client;
        let status = Some(resp.status().as_u16());
        self.count_answer(client, status, local.map(Reason::name), |said| cx.log("ban", said));
    }
}

impl BanFilter {
    /// An answer to `client` (its status, and the local answer's reason or the cutoff's
    /// cause) struck against it by every rule it counts for, unless the client is exempt;
    /// `note` gets what the log line's `ban` field says of a strike that banned
    /// (`NAME:tripped`) or, in a dry run, would have (`NAME:would_ban`).
    fn count_answer(&self, client: IpAddr, status: Option<u16>, cause: Option<&str>, mut note: impl FnMut(String)) {
        let mut counting = self.rules.iter().filter(|rule| rule.counts(status, cause)).peekable();
        if counting.peek().is_none() || in_any(&self.exempt, client) {
            return;
        }
        for rule in counting {
            match self.bans.strike(rule, client) {
                Strike::Counted => {}
                Strike::Banned => note(format!("{}:tripped", rule.name)),
                Strike::WouldBan => note(format!("{}:would_ban", rule.name)),
            }
        }
    }
}
