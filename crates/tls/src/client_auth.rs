//! Client certificates (mTLS) on a listener: the CA bundle that signs them, whether a
//! client must present one, and the identity of a client whose certificate verified.
use crate::provider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct ClientAuth {
    pub roots: Arc<RootCertStore>,
    /// Without a certificate the handshake fails; else such a client is served, as
    /// anonymous.
    pub required: bool,
}

impl ClientAuth {
    /// The CA certificates in a PEM file.
    pub fn from_file(path: &str, required: bool) -> Result<ClientAuth, String> {
        Ok(ClientAuth { roots: Arc::new(crate::pem::read_roots(path)?), required })
    }

    pub(crate) fn verifier(&self) -> Result<Arc<dyn ClientCertVerifier>, String> {
        let builder = WebPkiClientVerifier::builder_with_provider(self.roots.clone(), provider());
        let builder = if self.required { builder } else { builder.allow_unauthenticated() };
        builder.build().map_err(|e| format!("client certificate verifier: {e}"))
    }
}

/// The subject of a verified client certificate, as RFC 4514 text (`CN=alice, O=Example`).
pub fn subject(leaf: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).ok()?;
    Some(cert.subject().to_string())
}
