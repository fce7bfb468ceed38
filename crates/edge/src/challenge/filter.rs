//! The challenge filter. On the front chain (`[challenge]`): it answers the challenge's
//! own endpoints, then challenges a request that a rule (or the "under attack" switch)
//! wants challenged and that has no pass. On a route (`challenge = true`): every request
//! of the route without a pass. Exempt paths and the clients of `exempt_clients`' lists
//! pass either way.
use super::gate::Gate;
use forecourt_proxy::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use http::request;
use std::sync::Arc;

pub struct ChallengeFilter {
    pub gate: Arc<Gate>,
    /// Challenge every request (a route's `challenge = true`), not only those rules pick.
    pub always: bool,
}

impl Filter for ChallengeFilter {
    fn describe(&self) -> FilterInfo {
        let rules: Vec<&str> = self.gate.spec.rules.iter().map(|r| r.name.as_str()).collect();
        let who = if self.always { "everyone".to_owned() } else { rules.join(",") };
        FilterInfo::new("challenge", Phases::REQUEST)
            .param("who", who)
            .param_list("exempt_clients", self.gate.spec.exempt_clients.iter().map(|l| l.name.as_str()))
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if !self.always {
            if let Some(answer) = self.gate.endpoint(head, cx) {
                return Decision::answer(answer);
            }
        }
        if self.gate.exempt(head.uri.path()) {
            return Decision::Continue;
        }
        let why = match self.always {
            true => Some("route"),
            false => self.gate.wanted(head, cx.client),
        };
        let Some(why) = why else { return Decision::Continue };
        if self.gate.exempt_client(cx.client) {
            return Decision::Continue;
        }
        if self.gate.has_pass(head, cx.client) {
            cx.log("challenge", "pass");
            return Decision::Continue;
        }
        Decision::answer(self.gate.challenge(head, cx, why))
    }
}
