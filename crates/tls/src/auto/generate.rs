//! Certificates made here rather than by a CA: the temporary self-signed one served until
//! a name's first certificate is issued, and the TLS-ALPN-01 validation certificate.
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;

/// A self-signed certificate for `name` (ECDSA P-256), valid for a week.
pub fn self_signed(name: &str) -> Result<Arc<CertifiedKey>, String> {
    let mut params = CertificateParams::new(vec![name.to_string()]).map_err(|e| e.to_string())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} (temporary, Forecourt)"));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(7);
    sign_self(params)
}

/// The certificate a TLS-ALPN-01 validation expects (RFC 8737 §3): `name` as its only
/// subjectAltName and the SHA-256 digest of the key authorization in a critical
/// acmeIdentifier extension.
pub fn alpn_challenge(name: &str, key_authorization_digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let mut params = CertificateParams::new(vec![name.to_string()]).map_err(|e| e.to_string())?;
    params.distinguished_name = DistinguishedName::new();
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(key_authorization_digest)];
    sign_self(params)
}

fn sign_self(params: CertificateParams) -> Result<Arc<CertifiedKey>, String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    certified(vec![cert.der().clone()], &key)
}

/// A chain and the rcgen key that signed its leaf, ready for handshakes. Made without
/// rustls's check that key and certificate match (`CertifiedKey::from_der`): that check
/// parses the leaf with webpki, which refuses the critical acmeIdentifier extension.
pub fn certified(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> Result<Arc<CertifiedKey>, String> {
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = crate::provider().key_provider.load_private_key(der).map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}
