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
