//! Certificates for TLS tests: a throwaway CA (made with rcgen, as an internal CA would
//! be) and leaf certificates it signs, written as PEM files.
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // What strict verifiers (sslyze's) require of a CA.
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, "Forecourt test CA");
        TestCa { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names` (the first is also its common name): (certificate PEM, key PEM).
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        self.leaf_with(names, |_| {})
    }

    /// A client certificate for `name` (its common name): (certificate PEM, key PEM).
    pub fn client(&self, name: &str) -> (String, String) {
        self.leaf_with(&[name], |p| {
            p.subject_alt_names.clear();
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        })
    }

    /// A leaf whose parameters `adjust` changes first (validity, say).
    pub fn leaf_with(&self, names: &[&str], adjust: impl FnOnce(&mut CertificateParams)) -> (String, String) {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        // Valid now, for months rather than centuries (scanners flag lifespans over a year).
        let (year, month) = this_month();
        params.not_before = rcgen::date_time_ymd(year, month, 1);
        let later = month + 6;
        params.not_after = rcgen::date_time_ymd(year + i32::from(later > 12), (later - 1) % 12 + 1, 1);
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// The current year and month (UTC), from the system clock.
fn this_month() -> (i32, u8) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month as u8)
}
