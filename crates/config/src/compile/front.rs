//! The front chain: process-wide policies that run on every request before routing, in
//! this order: `ban` (`[bans]`: 403 for a banned client, and strikes counted from every
//! answer), `uri_length` (414), `rate_limit` (`[global] limits`, 429), `acme_challenge`
//! (HTTP-01 answers, plain listeners), `misdirected` (421, when a listener terminates TLS).
use super::Ctx;
use forecourt_edge::bans::BanFilter;
use forecourt_edge::limits::RateLimitFilter;
use forecourt_proxy::filter::{Chain, Filter};
use forecourt_proxy::filters::{AcmeChallenge, Misdirected, UriLength};
use forecourt_proxy::runtime::Tls;
use forecourt_proxy::Settings;

pub fn chain(
    cx: &mut Ctx<'_>,
    settings: &Settings,
    tls: Option<&Tls>,
    bans: Option<BanFilter>,
    limits: Option<RateLimitFilter>,
) -> Chain {
    let mut chain: Vec<Box<dyn Filter>> = Vec::new();
    chain.extend(bans.map(|f| Box::new(f) as Box<dyn Filter>));
    chain.push(Box::new(UriLength { max: settings.client.max_uri_bytes }));
    chain.extend(limits.map(|f| Box::new(f) as Box<dyn Filter>));
    chain.push(Box::new(AcmeChallenge { store: cx.state.tls.managed.clone() }));
    if let Some(tls) = tls {
        chain
            .push(Box::new(Misdirected { certs: tls.certs.clone(), host_client_certs: tls.host_client_certs.clone() }));
    }
    Chain::new(chain)
}
