//! Secondary keys (RFC 9111 §4.1): the request header values a stored response was
//! chosen by, named by its `Vary`, normalised so that equivalent requests match.
use crate::directives::split_list;
use http::header::{HeaderMap, HeaderName, ACCEPT_ENCODING, ACCEPT_LANGUAGE, VARY};

/// The names a response's `Vary` lists (lowercase, no duplicates).
pub fn names(resp: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = resp
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_list)
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}

/// The normalised value of request header `name` (`None`: absent).
pub fn value(req: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = req.get_all(name).iter().filter_map(|v| v.to_str().ok()).peekable();
    values.peek()?;
    if name == ACCEPT_ENCODING {
        // The codings with a non-zero weight, in one order: `gzip, br` = `br,gzip;q=1`.
        let mut codings: Vec<String> = values
            .flat_map(split_list)
            .filter_map(|c| {
                let mut parts = c.split(';');
                let coding = parts.next()?.trim().to_ascii_lowercase();
                let zero = parts.any(|p| {
                    p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
                });
                (!zero).then_some(coding)
            })
            .collect();
        codings.sort();
        codings.dedup();
        return Some(codings.join(","));
    }
    if name == ACCEPT_LANGUAGE {
        // The ranges with a non-zero weight, most preferred first, those of one weight in
        // one order: `en, de` = `De, EN;q=1`.
        let ranked = ranked_languages(values);
        let members: Vec<String> = ranked
            .iter()
            .map(|(weight, tag)| match weight {
                1000 => tag.clone(),
                w => format!("{tag};q=0.{w:03}"),
            })
            .collect();
        return Some(members.join(","));
    }
    // Other fields: list members joined with one comma, whitespace around them dropped.
    Some(values.flat_map(split_list).collect::<Vec<_>>().join(","))
}

/// `Accept-Language`'s ranges with a non-zero weight (in thousandths) and in lowercase
/// (RFC 5646 §2.1.1: tags have no letter case), most preferred first, then by name.
fn ranked_languages<'a>(values: impl Iterator<Item = &'a str>) -> Vec<(u16, String)> {
    let mut ranked: Vec<(u16, String)> = values
        .flat_map(split_list)
        .filter_map(|member| {
            let mut parts = member.split(';');
            let tag = parts.next()?.trim().to_ascii_lowercase();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(|q| q.trim().parse::<f32>().unwrap_or(0.0)))
                .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0).round() as u16);
            (weight > 0 && !tag.is_empty()).then_some((weight, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked.dedup_by(|a, b| a.1 == b.1);
    ranked
}

/// Whether a variant in one language (`Content-Language: de`) is the one the origin
/// would answer this request with, though its secondary key differs in
/// `Accept-Language` alone: the request prefers that language to every other it lists
/// (`fr;q=0.5, de`). RFC 9111 §4.1 lets a cache use what it knows of how the origin
/// selects; any origin that honours the client's weights picks it.
pub fn selected_by_language(
    req: &HeaderMap,
    names: &[HeaderName],
    key: &[Option<String>],
    content_language: Option<&str>,
) -> bool {
    let Some(language) = content_language.map(str::trim).filter(|l| !l.is_empty() && !l.contains(',')) else {
        return false;
    };
    names.contains(&ACCEPT_LANGUAGE)
        && names.iter().zip(key).all(|(name, stored)| {
            if name != ACCEPT_LANGUAGE {
                return value(req, name) == *stored;
            }
            let ranked = ranked_languages(req.get_all(name).iter().filter_map(|v| v.to_str().ok()));
            match ranked.as_slice() {
                [(top, tag), rest @ ..] => {
                    tag.eq_ignore_ascii_case(language) && rest.first().is_none_or(|(next, _)| next < top)
                }
                [] => false,
            }
        })
}

/// The secondary key of a request for a response that varies on `names`.
pub fn key(req: &HeaderMap, names: &[HeaderName]) -> Vec<Option<String>> {
    names.iter().map(|n| value(req, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap())).collect()
    }

    #[test]
    fn equivalent_requests_share_a_secondary_key() {
        let ae = ACCEPT_ENCODING;
        assert_eq!(
            value(&h(&[("accept-encoding", "gzip, br")]), &ae),
            value(&h(&[("accept-encoding", "BR,gzip;q=1")]), &ae)
        );
        assert_eq!(value(&h(&[("accept-encoding", "gzip;q=0, br")]), &ae).unwrap(), "br");
        assert_eq!(value(&h(&[]), &ae), None);
        let lang = HeaderName::from_static("accept-language");
        assert_eq!(value(&h(&[("accept-language", "en ,  fr")]), &lang).unwrap(), "en,fr");
        assert_eq!(value(&h(&[("accept-language", "eN, De")]), &lang).unwrap(), "de,en");
        assert_eq!(
            value(&h(&[("accept-language", "fr;q=0.5, de-CH, de;q=0.9, it;q=0")]), &lang).unwrap(),
            "de-ch,de;q=0.900,fr;q=0.500"
        );
        assert_eq!(
            value(&h(&[("accept-language", "en, de")]), &lang),
            value(&h(&[("accept-language", "de;q=1.0,EN")]), &lang)
        );
        assert_eq!(names(&h(&[("vary", "Accept-Encoding, accept-encoding,Origin")])).len(), 2);
    }

    #[test]
    fn a_variant_in_the_language_a_request_prefers_is_selected() {
        let lang = ACCEPT_LANGUAGE;
        let names = [HeaderName::from_static("accept-encoding"), lang.clone()];
        let stored = key(&h(&[("accept-encoding", "gzip"), ("accept-language", "en, de")]), &names);
        let selects = |fields: &[(&str, &str)], content_language| {
            selected_by_language(&h(fields), &names, &stored, content_language)
        };
        let gzip = ("accept-encoding", "gzip");
        assert!(selects(&[gzip, ("accept-language", "fr;q=0.5, de;q=1.0")], Some("de")));
        assert!(selects(&[gzip, ("accept-language", "DE")], Some("de")));
        assert!(!selects(&[gzip, ("accept-language", "fr, de")], Some("de")), "not preferred to fr");
        assert!(!selects(&[gzip, ("accept-language", "fr;q=0.5, de")], None), "no Content-Language");
        assert!(!selects(&[gzip, ("accept-language", "fr;q=0.5, de")], Some("de, en")), "several languages");
        assert!(!selects(&[("accept-encoding", "br"), ("accept-language", "de")], Some("de")), "another coding");
        assert!(!selects(&[gzip], Some("de")), "no Accept-Language");
    }
}
