//! A config's challenge (`[challenge]`): who must show a pass, the page that earns one,
//! and the endpoints the page and its worker call (`/.forecourt/challenge/worker.js`,
//! `verify`, `wait`). The keys and counters are the process's (`Challenges`), so a
//! reload keeps every pass good.
use super::page::{self, NoJs, PageData, BASE, WORKER_JS};
use super::rules::{first_match, Rule};
use super::state::Challenges;
use super::token::{self, Refusal};
use crate::address_key::address_key;
use crate::cookie::cookie;
use crate::lists::{in_any, IpList};
use forecourt_proxy::answers::{Reason, Style};
use forecourt_proxy::body::ProxyBody;
use forecourt_proxy::filter::RequestCtx;
use forecourt_proxy::normal_path::normalized;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use http::{request, Method, Response, StatusCode};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct GateSpec {
    /// Leading zero bits a solution's hash needs.
    pub difficulty: u8,
    pub pass_for: Duration,
    /// How long a puzzle may take to come back solved.
    pub solve_within: Duration,
    pub cookie: String,
    pub no_js: NoJs,
    /// Path prefixes never challenged (besides `/.well-known/` and `/robots.txt`).
    pub exempt: Vec<String>,
    /// Lists whose clients are never challenged (monitors, partners' API clients).
    pub exempt_clients: Vec<Arc<IpList>>,
    pub ipv6_prefix: u8,
    pub rules: Vec<Rule>,
}

pub struct Gate {
    pub spec: GateSpec,
    pub state: Arc<Challenges>,
}

/// What a request to one of the challenge's endpoints gets.
enum Endpoint {
    Worker,
    Verify,
    Wait,
}

impl Gate {
    /// Paths no challenge stands in front of: ACME, security.txt and the like, robots.txt,
    /// and the operator's own.
    pub fn exempt(&self, path: &str) -> bool {
        // As routes read it: `/.well-known/../admin` is `/admin`, and not exempt.
        let Some(path) = normalized(path) else { return false };
        path.starts_with("/.well-known/")
            || path == "/robots.txt"
            || self.spec.exempt.iter().any(|p| path.starts_with(p.as_str()))
    }

    /// Whether the client is in one of the lists never challenged.
    pub fn exempt_client(&self, client: IpAddr) -> bool {
        in_any(&self.spec.exempt_clients, client)
    }

    /// The rule (or `under_attack`) that wants this request challenged, if any.
    pub fn wanted(&self, head: &request::Parts, client: IpAddr) -> Option<&str> {
        if self.state.under_attack() {
            return Some("under_attack");
        }
        first_match(&self.spec.rules, head, client)
    }

    /// Whether the request carries a pass that holds for its client (counted when it does).
    pub fn has_pass(&self, head: &request::Parts, client: IpAddr) -> bool {
        let Some(pass) = cookie(head, &self.spec.cookie) else { return false };
        let longest = self.spec.pass_for.as_secs();
        let holds = token::check_pass(&self.state.keys, self.client_key(client), pass, now(), longest).is_ok();
        if holds {
            self.state.admitted.fetch_add(1, Ordering::Relaxed);
        }
        holds
    }

    /// The challenge page, with a new puzzle for this client (a gRPC client, which cannot
    /// run it, gets the catalogue's answer).
    pub fn challenge(&self, head: &request::Parts, cx: &mut RequestCtx<'_>, why: &str) -> Response<ProxyBody> {
        self.state.issued.fetch_add(1, Ordering::Relaxed);
        cx.log("challenge", format!("issued:{why}"));
        if cx.style() == Style::Grpc {
            return cx.answer(Reason::Challenged);
        }
        cx.answering(Reason::Challenged);
        let difficulty = self.spec.difficulty;
        let puzzle = token::issue_puzzle(&self.state.keys, self.client_key(cx.client), now(), difficulty);
        let return_to = head.uri.path_and_query().map_or("/", |p| p.as_str());
        let html = page::render(&PageData {
            puzzle: &puzzle,
            difficulty,
            return_to,
            request_id: cx.request_id.to_str().unwrap_or(""),
            no_js: self.spec.no_js,
        });
        let mut resp = Response::new(ProxyBody::full(html));
        *resp.status_mut() = StatusCode::FORBIDDEN;
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    /// The answer of one of the challenge's endpoints, when the request is for one.
    pub fn endpoint(&self, head: &request::Parts, cx: &mut RequestCtx<'_>) -> Option<Response<ProxyBody>> {
        let endpoint = match head.uri.path().strip_prefix(BASE)? {
            "worker.js" => Endpoint::Worker,
            "verify" => Endpoint::Verify,
            "wait" => Endpoint::Wait,
            _ => return None,
        };
        if head.method != Method::GET && head.method != Method::HEAD {
            return Some(cx.answer(Reason::MethodNotAllowed));
        }
        Some(match endpoint {
            Endpoint::Worker => worker_script(),
            Endpoint::Verify | Endpoint::Wait => {
                let query = Query::parse(head.uri.query().unwrap_or(""));
                match self.redeem(&query, matches!(endpoint, Endpoint::Wait), cx.client) {
                    Ok(()) => {
                        self.state.passed.fetch_add(1, Ordering::Relaxed);
                        cx.log("challenge", "passed");
                        self.pass(&query.return_to(), cx)
                    }
                    Err(why) => {
                        self.state.failed.fetch_add(1, Ordering::Relaxed);
                        cx.log("challenge", format!("failed:{}", why.name()));
                        cx.answer(Reason::ChallengeFailed)
                    }
                }
            }
        })
    }

    /// Checks a solved puzzle (or, `waited`, one whose no-JavaScript wait is over) and
    /// marks it used.
    fn redeem(&self, q: &Query, waited: bool, client: IpAddr) -> Result<(), Refusal> {
        let now = now();
        let within = self.spec.solve_within.as_secs();
        let puzzle = token::open_puzzle(&self.state.keys, self.client_key(client), &q.puzzle, now, within)?;
        match (waited, self.spec.no_js) {
            (false, _) if !token::solves(&q.puzzle, &q.nonce, puzzle.difficulty) => return Err(Refusal::Unsolved),
            (false, _) => {}
            (true, NoJs::Deny) => return Err(Refusal::Unsolved),
            (true, NoJs::Wait(wait)) if now < puzzle.issued + wait.as_secs().max(1) => return Err(Refusal::TooEarly),
            (true, NoJs::Wait(_)) => {}
        }
        match self.state.redeemed.redeem(puzzle.id, puzzle.issued + within, now) {
            true => Ok(()),
            false => Err(Refusal::Replayed),
        }
    }

    /// 303 back to where the client was going, with its pass.
    fn pass(&self, return_to: &str, cx: &RequestCtx<'_>) -> Response<ProxyBody> {
        let now = now();
        let expires = now + self.spec.pass_for.as_secs();
        let pass = token::issue_pass(&self.state.keys, self.client_key(cx.client), now, expires);
        let secure = if cx.conn.tls { "; Secure" } else { "" };
        let cookie =
            format!("{}={pass}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{secure}", self.spec.cookie, expires - now);
        let mut resp = Response::new(ProxyBody::empty());
        *resp.status_mut() = StatusCode::SEE_OTHER;
        let h = resp.headers_mut();
        h.insert(LOCATION, HeaderValue::from_str(return_to).unwrap_or(HeaderValue::from_static("/")));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.insert(SET_COOKIE, v);
        }
        resp
    }

    fn client_key(&self, client: IpAddr) -> u128 {
        address_key(client, self.spec.ipv6_prefix)
    }
}

fn worker_script() -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(WORKER_JS));
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp
}

/// `p` (the puzzle), `n` (the nonce) and `r` (where to go back to) of `verify` and `wait`.
#[derive(Default)]
struct Query {
    puzzle: String,
    nonce: String,
    return_to: Option<String>,
}

impl Query {
    fn parse(query: &str) -> Query {
        let mut q = Query::default();
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "p" => q.puzzle = value.to_owned(),
                "n" => q.nonce = value.to_owned(),
                "r" => q.return_to = page::url_decode(value),
                _ => {}
            }
        }
        q
    }

    /// A path on this site (never `//host` or `/\host`, which browsers take for another
    /// site), else `/`.
    fn return_to(&self) -> String {
        match self.return_to.as_deref() {
            Some(r)
                if r.starts_with('/')
                    && !r.starts_with("//")
                    && !r.starts_with("/\\")
                    && r.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
            {
                r.to_owned()
            }
            _ => "/".to_owned(),
        }
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_site_are_returned_to() {
        for (r, to) in [
            ("%2Fa%3Fb%3D1", "/a?b=1"),
            ("%2F%2Fevil.example", "/"),
            ("%2F%5Cevil.example", "/"),
            ("https%3A%2F%2Fevil.example", "/"),
            ("%2Fa%0D%0ASet-Cookie%3A", "/"),
        ] {
            assert_eq!(Query::parse(&format!("p=x&n=1&r={r}")).return_to(), to, "{r}");
        }
        assert_eq!(Query::parse("p=x").return_to(), "/");
    }
}
