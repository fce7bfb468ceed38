//! The text of a list file: one CIDR or address a line, `#` or `;` starting a comment
//! (FireHOL netsets, Spamhaus DROP's `1.2.3.0/24 ; SBL123`), blank lines ignored. Every
//! bad line is reported by its number, not just the first.
use forecourt_proxy::cidr::Cidr;

/// The CIDRs of `text`, or the bad lines: (line number from 1, why).
pub fn parse(text: &str) -> Result<Vec<Cidr>, Vec<(usize, String)>> {
    let mut cidrs = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split(['#', ';']).next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        match entry.parse::<Cidr>() {
            Ok(c) => cidrs.push(c),
            Err(e) if bad.len() < 10 => bad.push((i + 1, e)),
            Err(_) => {}
        }
    }
    if bad.is_empty() {
        Ok(cidrs)
    } else {
        Err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn netsets_and_drop_lists() {
        let ok = parse("# FireHOL\n1.2.3.0/24\n\n5.6.7.8 ; SBL1\n  2001:db8::/32  # v6\n").unwrap();
        assert_eq!(ok.len(), 3);
        let bad = parse("1.2.3.0/24\nnot-an-address\n1.2.3.0/33\n").unwrap_err();
        assert_eq!(bad.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [2, 3]);
    }
}
