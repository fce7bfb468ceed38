//! A plain HTTP request for a host that requires client certificates (`[[tls.client_certs]]`),
//! which only TLS can carry, gets 403; placed after `https_redirect`, so a route that
//! redirects to HTTPS redirects instead.
use crate::answers::Reason;
use crate::filter::{Decision, Filter, FilterInfo, Phases, RequestCtx};
use crate::router::request_host;
use crate::runtime::{client_certs_for, HostClientCerts};
use http::request;
use std::sync::Arc;

pub struct ClientCertificate {
    pub hosts: Arc<[HostClientCerts]>,
}

impl Filter for ClientCertificate {
    fn describe(&self) -> FilterInfo {
        let hosts: Vec<&str> = self.hosts.iter().flat_map(|h| h.hosts.iter().map(String::as_str)).collect();
        FilterInfo::new("client_certificate", Phases::REQUEST).param("hosts", hosts.join(", "))
    }

    fn on_request(&self, head: &mut request::Parts, cx: &mut RequestCtx<'_>) -> Decision {
        if cx.conn.tls || client_certs_for(&self.hosts, request_host(&head.uri, &head.headers)).is_none() {
            return Decision::Continue;
        }
        Decision::answer(cx.answer(Reason::ClientCertificateRequired))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::testing::{decide, head, Fixture};

    #[test]
    fn plain_requests_for_hosts_with_client_certificates_get_403() {
        let config = forecourt_tls::server_config(
            &Default::default(),
            forecourt_tls::Handshakes {
                policy: forecourt_tls::Policy::Intermediate,
                versions: forecourt_tls::Versions { tls12: true, tls13: true },
                resumption: forecourt_tls::Resumption::Off,
            },
            Arc::new(forecourt_tls::SniResolver::new(Default::default(), Default::default())),
            None,
        )
        .unwrap();
        let hosts = vec![HostClientCerts { hosts: vec!["*.admin.test".into()], config, client_cert_header: None }];
        let filter = ClientCertificate { hosts: hosts.into() };
        let mut admin = head("GET", "/", &[("host", "x.admin.test:8080")]);
        assert_eq!(decide(&filter, &mut admin, &mut Fixture::plain().cx()).unwrap().status(), 403);
        assert!(decide(&filter, &mut admin, &mut Fixture::tls("x.admin.test").cx()).is_none(), "TLS carries them");
        let other = &mut head("GET", "/", &[("host", "www.test")]);
        assert!(decide(&filter, other, &mut Fixture::plain().cx()).is_none());
    }
}
