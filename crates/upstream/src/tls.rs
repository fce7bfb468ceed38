//! TLS to an upstream's servers (`https://` in `servers`): a rustls client configuration
//! per group (roots, client certificate, ALPN), and per server the name it is verified
//! against and sent as SNI.
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;

/// `[upstream.NAME]`'s TLS keys.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// CA certificates (PEM) to verify servers with; default: the system's.
    pub ca: Option<String>,
    /// The name to verify and send as SNI, instead of each server's own host.
    pub server_name: Option<String>,
    /// A client certificate and key (PEM) to present (mTLS to the backend).
    pub client_cert: Option<(String, String)>,
    /// Accept any server certificate. Never the default; warned about at every start.
    pub insecure_skip_verify: bool,
}

/// One server's side: the group's client and the name this server is verified against
/// (`None`: its host is no valid name, and connecting fails).
#[derive(Clone, Debug)]
pub struct EndpointTls {
    pub upstream: Arc<UpstreamTls>,
    pub name: Option<ServerName<'static>>,
}

/// A group's TLS client side.
pub struct UpstreamTls {
    pub connector: tokio_rustls::TlsConnector,
    pub server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

impl UpstreamTls {
    /// Builds the client configuration of upstream `group`; `h2`: offer HTTP/2 by ALPN,
    /// else HTTP/1.1. Warns (at every start and reload) when verification is off.
    pub fn new(group: &str, options: &TlsOptions, h2: bool) -> Result<UpstreamTls, String> {
        let provider = forecourt_tls::provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = if options.insecure_skip_verify {
            tracing::warn!(upstream = group, "tls_insecure_skip_verify: the servers' certificates are NOT verified");
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        } else {
            let path = options.ca.as_deref().unwrap_or(forecourt_tls::SYSTEM_ROOTS);
            builder.with_root_certificates(forecourt_tls::read_roots(path)?)
        };
        let mut config = match &options.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let (chain, key) = forecourt_tls::read_chain_and_key(cert, key)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| format!("client certificate {cert}: {e}"))?
            }
        };
        config.alpn_protocols = vec![if h2 { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
        let server_name = match &options.server_name {
            None => None,
            Some(name) => {
                Some(ServerName::try_from(name.clone()).map_err(|_| format!("`{name}` is not a server name"))?)
            }
        };
        Ok(UpstreamTls { connector: tokio_rustls::TlsConnector::from(Arc::new(config)), server_name })
    }

    /// The name a server at `host` is verified against.
    pub fn name_for(&self, host: &str) -> Result<ServerName<'static>, String> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => ServerName::try_from(host.to_string()).map_err(|_| format!("`{host}` is not a server name")),
        }
    }
}

/// `tls_insecure_skip_verify = true`: every certificate passes, signatures are still
/// checked (so the connection is encrypted to whoever answered, but not authenticated).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
