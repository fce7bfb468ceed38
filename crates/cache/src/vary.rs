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
    // Other fields: list members joined with one comma, whitespace around them dropped;
    // language tags have no letter case (RFC 5646 §2.1.1).
    let joined = values.flat_map(split_list).collect::<Vec<_>>().join(",");
    Some(if name == ACCEPT_LANGUAGE { joined.to_ascii_lowercase() } else { joined })
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
        assert_eq!(value(&h(&[("accept-language", "eN, De")]), &lang).unwrap(), "en,de");
        assert_eq!(names(&h(&[("vary", "Accept-Encoding, accept-encoding,Origin")])).len(), 2);
    }
}
