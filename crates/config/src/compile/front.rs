//! The front chain: process-wide policies that run on every request before routing, in
//! this order: `ban` (`[bans]`: 403 for a banned client, and strikes counted from every
//! answer), `uri_length` (414), `geoip` (`[geoip]`: the client's country and ASN into
//! request headers and the log), `rate_limit` (`[global] limits`, 429), `challenge`
//! (`[challenge]`: its endpoints, and the page for whom its rules pick), `acme_challenge`
//! (HTTP-01 answers, plain listeners), `misdirected` (421, when a listener terminates TLS).
use super::Ctx;
use forecourt_edge::bans::BanFilter;
use forecourt_edge::challenge::ChallengeFilter;
use forecourt_edge::geoip::GeoFilter;
use forecourt_edge::limits::RateLimitFilter;
use forecourt_proxy::filter::{Chain, Filter};
use forecourt_proxy::filters::{AcmeChallenge, Misdirected, UriLength};
use forecourt_proxy::runtime::Tls;
use forecourt_proxy::Settings;

/// The edge's filters on the front chain, each when configured.
pub struct Edge {
    pub bans: Option<BanFilter>,
    pub geoip: Option<GeoFilter>,
    pub limits: Option<RateLimitFilter>,
    pub challenge: Option<ChallengeFilter>,
}

pub fn chain(cx: &mut Ctx<'_>, settings: &Settings, tls: Option<&Tls>, edge: Edge) -> Chain {
    let mut chain: Vec<Box<dyn Filter>> = Vec::new();
    chain.extend(edge.bans.map(|f| Box::new(f) as Box<dyn Filter>));
    chain.push(Box::new(UriLength { max: settings.client.max_uri_bytes }));
    chain.extend(edge.geoip.map(|f| Box::new(f) as Box<dyn Filter>));
    chain.extend(edge.limits.map(|f| Box::new(f) as Box<dyn Filter>));
    chain.extend(edge.challenge.map(|f| Box::new(f) as Box<dyn Filter>));
    chain.push(Box::new(AcmeChallenge { store: cx.state.tls.managed.clone() }));
    if let Some(tls) = tls {
        chain
            .push(Box::new(Misdirected { certs: tls.certs.clone(), host_client_certs: tls.host_client_certs.clone() }));
    }
    Chain::new(chain)
}
