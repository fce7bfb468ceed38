//! `[geoip]`: MaxMind-format databases that give each client's country and ASN.
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct GeoipCfg {
    /// `.mmdb` files (GeoLite2/GeoIP2 Country or City, ASN), relative to the config file's
    /// folder; for each address, the first that knows its country (or ASN) says it.
    pub databases: Vec<Spanned<String>>,
    /// The request header the upstream gets the country in (default "X-Country-Code";
    /// "" for none).
    pub country_header: Option<Spanned<String>>,
    /// The request header the upstream gets the ASN in (default "X-ASN"; "" for none).
    pub asn_header: Option<Spanned<String>>,
}
