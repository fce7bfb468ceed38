//! Reading PEM files: a certificate chain with its private key, and a CA bundle. Errors
//! name the file and what is wrong with it.
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// `cert_path` (the leaf first, then intermediates) and `key_path` (PKCS#8, PKCS#1 or
/// SEC1).
pub fn read_chain_and_key(
    cert_path: &str,
    key_path: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = read_certs(cert_path, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => format!("{key_path} holds no private key"),
        e => format!("cannot read key file {key_path}: {e}"),
    })?;
    Ok((chain, key))
}

/// Where Debian (and most Linux distributions) keep the system's trusted CAs.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The CA certificates in `path`, as trust anchors. Those that cannot serve as one are
/// passed over (a system bundle holds a few), as long as one can.
pub fn read_roots(path: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(read_certs(path, "CA")?);
    if added == 0 {
        return Err(format!("{path} holds no usable CA certificate"));
    }
    Ok(roots)
}

/// Every certificate in a PEM file, at least one; `what` names them in errors.
fn read_certs(path: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {what} file {path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad PEM in {path}: {e}"))?;
    if certs.is_empty() {
        let noun = if what == "CA" { "CA certificate" } else { "certificate" };
        return Err(format!("{path} holds no {noun}"));
    }
    Ok(certs)
}
