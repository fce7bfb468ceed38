//! The internal issuer: a CA that Forecourt creates on first use in its storage folder and
//! signs certificates for local names with (`localhost`, `*.internal`, …), for
//! development. Its root certificate is what a browser or `curl --cacert` must trust;
//! its path is logged when it is first used.
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// Leaf certificates live a week and are renewed after about five days.
const LEAF_DAYS: i64 = 7;

pub struct InternalCa {
    issuer: rcgen::Issuer<'static, KeyPair>,
    pub root_path: PathBuf,
}

impl InternalCa {
    /// The CA in `dir` (`root.pem`, `root.key`), created when there is none.
    pub fn load_or_create(dir: &Path) -> Result<InternalCa, String> {
        let (root_path, key_path) = (dir.join("root.pem"), dir.join("root.key"));
        let key = if key_path.exists() && root_path.exists() {
            let pem = std::fs::read_to_string(&key_path).map_err(|e| format!("{}: {e}", key_path.display()))?;
            KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", key_path.display()))?
        } else {
            let key = KeyPair::generate().map_err(|e| e.to_string())?;
            let mut params = ca_params();
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::hours(1);
            params.not_after = now + time::Duration::days(3650);
            let root = params.self_signed(&key).map_err(|e| e.to_string())?;
            super::storage::write_private(&key_path, key.serialize_pem().as_bytes())?;
            super::storage::write_private(&root_path, root.pem().as_bytes())?;
            tracing::info!(root = %root_path.display(), "created the internal CA");
            key
        };
        // Only the name and key of the issuer go into what it signs: the same as the root's.
        Ok(InternalCa { issuer: rcgen::Issuer::new(ca_params(), key), root_path })
    }

    /// A certificate for `name` signed by the CA: the chain (leaf only) and key, PEM.
    pub fn issue(&self, name: &str) -> Result<(String, String), String> {
        let mut params = CertificateParams::new(vec![name.to_string()]).map_err(|e| e.to_string())?;
        params.distinguished_name = DistinguishedName::new();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(LEAF_DAYS);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let cert = params.signed_by(&key, &self.issuer).map_err(|e| e.to_string())?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "Forecourt Local CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}
