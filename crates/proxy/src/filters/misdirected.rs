//! 421 Misdirected Request (RFC 9110 §15.5.20) for a request over TLS whose Host the
//! certificate chosen for the connection's SNI does not cover: one site's certificate
//! cannot front for another (HTTP/2 lets a client reuse a connection only for hosts its
//! certificate covers). A host with client certificates of its own is served only on
//! connections whose handshake asked for it. Front chain; one string comparison in the
//! common case (Host and SNI the same).
use crate::answers::Reason;
use crate::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use crate::router::request_host;
use crate::runtime::{client_certs_for, HostClientCerts};
use forecourt_tls::SniResolver;
use http::request;
use std::sync::Arc;

pub struct Misdirected {
    pub certs: Arc<SniResolver>,
    pub host_client_certs: Arc<[HostClientCerts]>,
}

impl Misdirected {
    fn misdirected(&self, sni: Option<&str>, host: &str) -> bool {
        if !self.host_client_certs.is_empty() && !host.is_empty() {
            let asked = sni.and_then(|sni| client_certs_for(&self.host_client_certs, sni));
            if client_certs_for(&self.host_client_certs, host) != asked {
                return true;
            }
        }
        let Some(sni) = sni else { return false };
        if host.is_empty() || host.eq_ignore_ascii_case(sni) {
            return false;
        }
        match (self.certs.find(Some(sni)), self.certs.find(Some(host))) {
            (Some(a), Some(b)) => !Arc::ptr_eq(&a, &b),
            _ => true,
        }
    }
}

impl Filter for Misdirected {
    fn describe(&self) -> FilterInfo {
        let mut info = FilterInfo::new("misdirected", Phases::REQUEST);
        if !self.host_client_certs.is_empty() {
            let hosts: Vec<&str> =
                self.host_client_certs.iter().flat_map(|h| h.hosts.iter().map(String::as_str)).collect();
            info = info.param("client_certificate_hosts", hosts.join(", "));
        }
        info
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if !cx.conn.tls {
            return Decision::Continue;
        }
        match self.misdirected(cx.conn.sni.as_deref(), request_host(&head.uri, &head.headers)) {
            true => Decision::answer(cx.answer(Reason::Misdirected)),
            false => Decision::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{decide, head, Fixture};
    use forecourt_tls::CertTable;

    #[test]
    fn without_certificates_for_the_host_a_different_name_is_misdirected() {
        let filter = Misdirected {
            certs: Arc::new(SniResolver::new(CertTable::default(), Default::default())),
            host_client_certs: Arc::new([]),
        };
        let f = Fixture::tls("a.example");
        assert!(decide(&filter, &mut head("GET", "/", &[("host", "a.example")]), &mut f.cx()).is_none());
        let answer = decide(&filter, &mut head("GET", "/", &[("host", "b.example")]), &mut f.cx()).unwrap();
        assert_eq!(answer.status(), 421);
        let plain = Fixture::plain();
        assert!(decide(&filter, &mut head("GET", "/", &[("host", "b.example")]), &mut plain.cx()).is_none());
    }
}
