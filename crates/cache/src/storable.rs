//! Whether a shared cache may store a response (RFC 9111 §3, §3.5), and why not.
use crate::directives::Directives;
use crate::freshness;
use crate::ttl_by_status::TtlByStatus;
use http::header::{HeaderMap, AUTHORIZATION, SET_COOKIE, VARY};
use http::Method;

/// Why a response was not stored (the `detail` of `Cache-Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotStored {
    Method,
    Status,
    NoStore,
    Private,
    Authorization,
    VaryStar,
    NoFreshness,
    SetCookie,
    TooLarge,
}

impl NotStored {
    pub fn as_str(self) -> &'static str {
        match self {
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::NoStore => "no-store",
            NotStored::Private => "private",
            NotStored::Authorization => "authorization",
            NotStored::VaryStar => "vary-star",
            NotStored::NoFreshness => "no-freshness",
            NotStored::SetCookie => "set-cookie",
            NotStored::TooLarge => "too-large",
        }
    }
}

/// What a route adds to the RFC's rules.
#[derive(Clone, Copy, Debug)]
pub struct Rules<'a> {
    /// Freshness for responses without any (`default_ttl`; heuristic freshness is off
    /// without it).
    pub default_ttl: &'a TtlByStatus,
    /// The route's `override_ttl` gives this response its lifetime: its own freshness
    /// (already left out of its directives) counts for nothing.
    pub overridden: bool,
    /// Store a response that sets a cookie when its freshness is explicit, as RFC 9111
    /// allows (`true`, the default), or only when it says it may be shared (`public`,
    /// `s-maxage` or a targeted field: nginx's and Varnish's caution, which store none).
    pub store_set_cookie: bool,
}

/// Decides on a response to `method` with `req` headers.
pub fn check(
    method: &Method,
    req: &HeaderMap,
    status: u16,
    resp: &HeaderMap,
    d: &Directives,
    targeted: bool,
    rules: Rules<'_>,
) -> Result<(), NotStored> {
    if method != Method::GET {
        return Err(NotStored::Method);
    }
    if !stored_whole(status) {
        return Err(NotStored::Status);
    }
    if d.must_understand && !understood(status) {
        return Err(NotStored::Status);
    }
    let request_cc = Directives::parse(req, &http::header::CACHE_CONTROL);
    if (d.no_store && !d.must_understand) || request_cc.no_store {
        return Err(NotStored::NoStore);
    }
    if d.private {
        return Err(NotStored::Private);
    }
    let shared_ok = d.public || d.s_maxage.is_some() || targeted;
    if req.contains_key(AUTHORIZATION) && !(shared_ok || d.must_revalidate) {
        return Err(NotStored::Authorization);
    }
    if resp.get_all(VARY).iter().any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|p| p.trim() == "*"))) {
        return Err(NotStored::VaryStar);
    }
    let explicit = !rules.overridden && freshness::explicit(resp, d);
    if resp.contains_key(SET_COOKIE) && !shared_ok && !(rules.store_set_cookie && explicit) {
        return Err(NotStored::SetCookie);
    }
    let has_freshness = explicit
        || rules.overridden
        || d.public
        || d.no_cache
        || rules.default_ttl.for_response(status, d.public).is_some();
    if !has_freshness {
        return Err(NotStored::NoFreshness);
    }
    Ok(())
}

/// Whether a response with `status` may be stored as a whole response: a final status,
/// but not a 206 (a part) or a 304 (a validation), which are not stored as such.
pub fn stored_whole(status: u16) -> bool {
    (200..600).contains(&status) && status != 206 && status != 304
}

/// The statuses whose caching rules this cache knows (RFC 9110 §15): `must-understand`
/// lets only these be stored.
fn understood(status: u16) -> bool {
    matches!(status, 200..=206 | 300..=305 | 307 | 308 | 400..=417 | 421 | 422 | 426 | 500..=505)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::Targets;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
    }

    fn decide(req: &[(&str, &str)], status: u16, resp: &[(&str, &str)]) -> Result<(), NotStored> {
        decide_with(&TtlByStatus::Off, req, status, resp)
    }

    fn decide_with(
        ttl: &TtlByStatus,
        req: &[(&str, &str)],
        status: u16,
        resp: &[(&str, &str)],
    ) -> Result<(), NotStored> {
        let resp = h(resp);
        let (d, targeted) = Targets::default().directives(&resp);
        check(
            &Method::GET,
            &h(req),
            status,
            &resp,
            &d,
            targeted,
            Rules { default_ttl: ttl, overridden: false, store_set_cookie: true },
        )
    }

    #[test]
    fn the_rules_of_rfc_9111_section_3() {
        assert_eq!(decide(&[], 200, &[("cache-control", "max-age=60")]), Ok(()));
        assert_eq!(decide(&[], 200, &[]), Err(NotStored::NoFreshness));
        assert_eq!(decide(&[], 200, &[("cache-control", "max-age=60, private")]), Err(NotStored::Private));
        assert_eq!(decide(&[], 200, &[("cache-control", "max-age=60, no-store")]), Err(NotStored::NoStore));
        assert_eq!(
            decide(&[("cache-control", "no-store")], 200, &[("cache-control", "max-age=60")]),
            Err(NotStored::NoStore)
        );
        assert_eq!(decide(&[], 206, &[("cache-control", "max-age=60")]), Err(NotStored::Status));
        assert_eq!(decide(&[], 200, &[("cache-control", "max-age=60"), ("vary", "*")]), Err(NotStored::VaryStar));
        let auth = [("authorization", "Basic x")];
        assert_eq!(decide(&auth, 200, &[("cache-control", "max-age=60")]), Err(NotStored::Authorization));
        assert_eq!(decide(&auth, 200, &[("cache-control", "max-age=60, public")]), Ok(()));
        assert_eq!(decide(&auth, 200, &[("cache-control", "s-maxage=60")]), Ok(()));
        assert_eq!(decide(&auth, 200, &[("cache-control", "max-age=60, must-revalidate")]), Ok(()));
        assert_eq!(decide(&[], 200, &[("cache-control", "no-cache")]), Ok(()), "stored, validated on each use");
        assert_eq!(decide(&[], 404, &[("cache-control", "max-age=60")]), Ok(()));
        let private_by_targeted = [("cache-control", "private"), ("cdn-cache-control", "max-age=60")];
        assert_eq!(decide(&[], 200, &private_by_targeted), Ok(()), "the targeted field replaces Cache-Control");
        assert_eq!(decide(&[], 200, &[("cache-control", "max-age=60"), ("set-cookie", "a=b")]), Ok(()));
        assert_eq!(
            decide(&[], 200, &[("cache-control", "no-cache"), ("set-cookie", "a=b")]),
            Err(NotStored::SetCookie)
        );
        let cautious = Rules { default_ttl: &TtlByStatus::Off, overridden: false, store_set_cookie: false };
        let resp = h(&[("cache-control", "max-age=60"), ("set-cookie", "a=b")]);
        let d = Targets::default().directives(&resp).0;
        assert_eq!(check(&Method::GET, &h(&[]), 200, &resp, &d, false, cautious), Err(NotStored::SetCookie));
        let understood = [("cache-control", "max-age=60, no-store, must-understand")];
        assert_eq!(decide(&[], 200, &understood), Ok(()), "must-understand overrides no-store");
        assert_eq!(decide(&[], 599, &understood), Err(NotStored::Status));
        assert_eq!(decide(&[], 200, &[("cache-control", "max-age=60, private=\"x\"")]), Ok(()));
    }

    #[test]
    fn a_default_ttl_stores_what_carries_no_freshness_only_for_the_statuses_it_covers() {
        let one = TtlByStatus::Cacheable(60);
        assert_eq!(decide_with(&one, &[], 200, &[]), Ok(()));
        assert_eq!(decide_with(&one, &[], 503, &[]), Err(NotStored::NoFreshness));
        let by_status = TtlByStatus::ByStatus { statuses: vec![(503, 5)], any: None };
        assert_eq!(
            decide_with(&by_status, &[], 503, &[]),
            Ok(()),
            "an operator's choice, as nginx's proxy_cache_valid"
        );
        assert_eq!(decide_with(&by_status, &[], 200, &[]), Err(NotStored::NoFreshness), "only the statuses listed");
        let any = TtlByStatus::ByStatus { statuses: vec![], any: Some(5) };
        assert_eq!(decide_with(&any, &[], 302, &[]), Ok(()));
        assert_eq!(decide_with(&any, &[], 206, &[]), Err(NotStored::Status), "never a part as the whole");
        assert_eq!(decide_with(&any, &[], 302, &[("cache-control", "private")]), Err(NotStored::Private));
        assert_eq!(decide_with(&any, &[], 302, &[("cache-control", "no-store")]), Err(NotStored::NoStore));
        assert_eq!(decide_with(&any, &[], 302, &[("set-cookie", "a=b")]), Err(NotStored::SetCookie));
    }

    #[test]
    fn an_overridden_lifetime_stores_what_said_it_was_stale_but_not_what_may_not_be_stored() {
        let overridden = |resp: &[(&str, &str)]| {
            let resp = h(resp);
            let d = Targets::default().directives(&resp).0.without_freshness();
            let rules = Rules { default_ttl: &TtlByStatus::Off, overridden: true, store_set_cookie: true };
            check(&Method::GET, &h(&[]), 200, &resp, &d, false, rules)
        };
        assert_eq!(overridden(&[("cache-control", "max-age=0")]), Ok(()));
        assert_eq!(overridden(&[("cache-control", "no-cache")]), Ok(()));
        assert_eq!(overridden(&[("expires", "0")]), Ok(()));
        assert_eq!(overridden(&[("cache-control", "private, max-age=60")]), Err(NotStored::Private));
        assert_eq!(overridden(&[("cache-control", "no-store")]), Err(NotStored::NoStore));
        let cookie = [("cache-control", "max-age=60"), ("set-cookie", "a=b")];
        assert_eq!(overridden(&cookie), Err(NotStored::SetCookie), "its own freshness no longer vouches for it");
    }
}
