//! Which coding a client gets: the highest `q` among those it accepts (RFC 9110 §12.5.3),
//! the server's preference (zstd, br, gzip) breaking ties; `*` stands for any coding not
//! named.
use http::header::{HeaderMap, ACCEPT_ENCODING};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Zstd,
    Br,
    Gzip,
}

impl Coding {
    /// The server's preference, first is best.
    pub const ALL: [Coding; 3] = [Coding::Zstd, Coding::Br, Coding::Gzip];

    pub fn token(self) -> &'static str {
        match self {
            Coding::Zstd => "zstd",
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }
}

/// The coding for a request with `headers`, among `offered` (in the server's order).
pub fn choose(headers: &HeaderMap, offered: &[Coding]) -> Option<Coding> {
    let mut weights: Vec<(String, f32)> = Vec::new();
    for value in headers.get_all(ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            weights.push((name, q));
        }
    }
    let weight = |c: Coding| {
        let named = weights.iter().find(|(n, _)| n == c.token() || (c == Coding::Gzip && n == "x-gzip"));
        named.or_else(|| weights.iter().find(|(n, _)| n == "*")).map_or(0.0, |(_, q)| *q)
    };
    let mut best: Option<(Coding, f32)> = None;
    for &c in offered {
        let q = weight(c);
        if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((c, q));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> Option<Coding> {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, accept.parse().unwrap());
        choose(&h, &Coding::ALL)
    }

    #[test]
    fn q_values_then_the_servers_preference() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Coding::Zstd));
        assert_eq!(pick("gzip, br"), Some(Coding::Br));
        assert_eq!(pick("gzip;q=1, br;q=0.5"), Some(Coding::Gzip));
        assert_eq!(pick("br;q=0, gzip;q=0.1"), Some(Coding::Gzip));
        assert_eq!(pick("identity"), None);
        assert_eq!(pick("*"), Some(Coding::Zstd));
        assert_eq!(pick("*;q=0.5, zstd;q=0"), Some(Coding::Br));
        assert_eq!(pick("x-gzip"), Some(Coding::Gzip));
        assert_eq!(choose(&HeaderMap::new(), &Coding::ALL), None);
        let mut h = HeaderMap::new();
        h.insert(ACCEPT_ENCODING, "zstd, gzip".parse().unwrap());
        assert_eq!(choose(&h, &[Coding::Gzip]), Some(Coding::Gzip), "only what is offered");
    }
}
