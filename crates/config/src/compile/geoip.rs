//! `[geoip]` compiled: the databases opened (a file that cannot be read, or is not a
//! MaxMind database, is an error where it is named; a reload meeting one is refused), the
//! front chain's filter, and what lists and routes need of it: the databases, and the
//! header that carries the country.
use super::Ctx;
use crate::model::GeoipCfg;
use forecourt_edge::geoip::{Geo, GeoFilter};
use http::header::HeaderName;
use std::sync::Arc;
use toml::Spanned;

pub struct GeoSetup {
    pub geo: Arc<Geo>,
    pub country_header: Option<HeaderName>,
    asn_header: Option<HeaderName>,
}

pub fn compile(cx: &mut Ctx<'_>, model: Option<&Spanned<GeoipCfg>>) -> Option<GeoSetup> {
    let m = model?;
    let c = m.get_ref();
    if c.databases.is_empty() {
        cx.error(m, "[geoip] names no database", Some("databases = [\"GeoLite2-Country.mmdb\"]".into()));
        return None;
    }
    let paths: Vec<String> = c.databases.iter().map(|db| cx.file_path(db.get_ref())).collect();
    let country_header = header(cx, &c.country_header, "x-country-code");
    let asn_header = header(cx, &c.asn_header, "x-asn");
    match Geo::open(&paths) {
        Ok(geo) => Some(GeoSetup { geo, country_header, asn_header }),
        Err((i, why)) => {
            cx.error(&c.databases[i], format!("cannot load the GeoIP database {why}"), None);
            None
        }
    }
}

fn header(cx: &mut Ctx<'_>, v: &Option<Spanned<String>>, default: &'static str) -> Option<HeaderName> {
    match v {
        None => Some(HeaderName::from_static(default)),
        Some(s) if s.get_ref().is_empty() => None,
        Some(s) => HeaderName::from_bytes(s.get_ref().as_bytes())
            .map_err(|_| cx.error(s, format!("`{}` is not a header name", s.get_ref()), None))
            .ok(),
    }
}

/// The front chain's filter.
pub fn filter(setup: Option<&GeoSetup>) -> Option<GeoFilter> {
    setup.map(|s| GeoFilter {
        geo: s.geo.clone(),
        country_header: s.country_header.clone(),
        asn_header: s.asn_header.clone(),
    })
}

/// Country codes as written (two letters, any case), upper case.
pub fn countries(cx: &mut Ctx<'_>, codes: &[Spanned<String>]) -> Vec<[u8; 2]> {
    let mut out = Vec::new();
    for code in codes {
        match code.get_ref().as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
                out.push([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
            }
            _ => cx.error(
                code,
                format!("`{}` is not a country code", code.get_ref()),
                Some("write ISO 3166-1 alpha-2: \"DE\"".into()),
            ),
        }
    }
    out
}
