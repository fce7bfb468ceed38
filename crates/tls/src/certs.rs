//! Certificates from PEM files: the chain and its key, checked to belong together and to
//! be within their validity period, and the names they are good for.
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_parser::extensions::GeneralName;

/// When a file last changed, and its size (`None`: it cannot be read).
pub type FileStamp = Option<(SystemTime, u64)>;

/// A `[[tls.certificates]]` entry: where its files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSource {
    pub cert: String,
    pub key: String,
    /// Also for handshakes whose name no certificate has.
    pub default: bool,
}

impl CertSource {
    pub fn load(&self) -> Result<LoadedCert, String> {
        let loaded = LoadedCert::from_files(&self.cert, &self.key, &crate::provider())?;
        if loaded.names.is_empty() {
            return Err(format!("{} names no host (no DNS subjectAltName or common name)", self.cert));
        }
        Ok(loaded)
    }

    /// When the files last changed, and their sizes: a change means they may hold a new
    /// certificate.
    pub fn stamp(&self) -> [FileStamp; 2] {
        [&self.cert, &self.key]
            .map(|path| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
    }
}

/// The certificates of these entries, in order, or the first reason one is unusable.
pub fn load_table(sources: &[CertSource]) -> Result<crate::CertTable, String> {
    let mut table = crate::CertTable::default();
    for source in sources {
        table.add(&source.load()?, source.default);
    }
    Ok(table)
}

/// A certificate chain with its key, ready for handshakes.
#[derive(Clone, Debug)]
pub struct LoadedCert {
    pub key: Arc<CertifiedKey>,
    /// DNS names from the leaf's subjectAltName (or its common name when it has none),
    /// lower case; wildcards as `*.example.com`.
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    /// The leaf's serial number, hex.
    pub serial: String,
}

impl LoadedCert {
    /// Reads `cert_path` (the leaf first, then intermediates) and `key_path` (PKCS#8,
    /// PKCS#1 or SEC1), both PEM.
    pub fn from_files(cert_path: &str, key_path: &str, provider: &CryptoProvider) -> Result<LoadedCert, String> {
        let (chain, key) = crate::pem::read_chain_and_key(cert_path, key_path)?;
        LoadedCert::from_der(chain, key, provider).map_err(|why| format!("{cert_path}: {why}"))
    }

    /// A chain and key already in DER.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        provider: &CryptoProvider,
    ) -> Result<LoadedCert, String> {
        let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => "the private key does not match the certificate".to_string(),
            e => format!("unusable certificate or key: {e}"),
        })?;
        let leaf = inspect(&certified.cert[0])?;
        if leaf.not_after < SystemTime::now() {
            return Err(format!("the certificate expired at {} (Unix time)", unix(leaf.not_after)));
        }
        let Leaf { names, not_before, not_after, serial } = leaf;
        Ok(LoadedCert { key: Arc::new(certified), names, not_before, not_after, serial })
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What is read off a leaf certificate.
struct Leaf {
    names: Vec<String>,
    not_before: SystemTime,
    not_after: SystemTime,
    serial: String,
}

/// The DNS names of a leaf certificate, its validity and serial number.
fn inspect(leaf: &CertificateDer<'_>) -> Result<Leaf, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| format!("cannot parse certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                names.push(dns.to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        names.extend(cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).map(str::to_ascii_lowercase));
    }
    let time = |t: x509_parser::time::ASN1Time| UNIX_EPOCH + Duration::from_secs(t.timestamp().max(0) as u64);
    Ok(Leaf {
        names,
        not_before: time(cert.validity().not_before),
        not_after: time(cert.validity().not_after),
        serial: cert.raw_serial_as_string().replace(':', ""),
    })
}
