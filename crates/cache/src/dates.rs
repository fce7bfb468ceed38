//! HTTP dates (RFC 9110 §5.6.7) as a cache reads them: all three formats, as the RFC
//! requires of recipients, with the letter case of names ignored and the weekday not
//! checked against the date (origins get both wrong; the date itself must be exact).
//! Anything else — other zones, two-digit years outside RFC 850's format, missing commas,
//! doubled spaces, one-digit hours — is not a date.

/// Unix seconds of `text`, or `None` when it is not an HTTP date.
pub fn parse(text: &str) -> Option<u64> {
    let t = text.trim().as_bytes();
    if let Some((weekday, rest)) = split_at_byte(t, b',') {
        let rest = rest.strip_prefix(b" ")?;
        if weekday.len() == 3 {
            imf_fixdate(rest)
        } else {
            weekday.iter().all(u8::is_ascii_alphabetic).then_some(())?;
            rfc850(rest)
        }
    } else {
        asctime(t)
    }
}

/// `DD Mon YYYY HH:MM:SS GMT`
fn imf_fixdate(t: &[u8]) -> Option<u64> {
    if t.len() != 24 || t[2] != b' ' || t[6] != b' ' || t[11] != b' ' || t[20] != b' ' {
        return None;
    }
    gmt(&t[21..])?;
    let day = digits(&t[0..2])?;
    let month = month(&t[3..6])?;
    let year = digits(&t[7..11])?;
    to_unix(year, month, day, clock(&t[12..20])?)
}

/// `DD-Mon-YY HH:MM:SS GMT`: a two-digit year more than 50 years ahead is in the past
/// century (RFC 9110 §5.6.7).
fn rfc850(t: &[u8]) -> Option<u64> {
    if t.len() != 22 || t[2] != b'-' || t[6] != b'-' || t[9] != b' ' || t[18] != b' ' {
        return None;
    }
    gmt(&t[19..])?;
    let day = digits(&t[0..2])?;
    let month = month(&t[3..6])?;
    let yy = digits(&t[7..9])?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let this_year = 1970 + now / 31_556_952;
    let mut year = this_year / 100 * 100 + yy;
    if year > this_year + 50 {
        year -= 100;
    }
    to_unix(year, month, day, clock(&t[10..18])?)
}

/// `Www Mon _D HH:MM:SS YYYY` (ANSI C's asctime, the day padded with a space).
fn asctime(t: &[u8]) -> Option<u64> {
    if t.len() != 24 || t[3] != b' ' || t[7] != b' ' || t[10] != b' ' || t[19] != b' ' {
        return None;
    }
    t[0..3].iter().all(u8::is_ascii_alphabetic).then_some(())?;
    let month = month(&t[4..7])?;
    let day = match t[8] {
        b' ' => digits(&t[9..10])?,
        _ => digits(&t[8..10])?,
    };
    let year = digits(&t[20..24])?;
    to_unix(year, month, day, clock(&t[11..19])?)
}

fn split_at_byte(t: &[u8], b: u8) -> Option<(&[u8], &[u8])> {
    let at = t.iter().position(|&c| c == b)?;
    Some((&t[..at], &t[at + 1..]))
}

fn gmt(t: &[u8]) -> Option<()> {
    t.eq_ignore_ascii_case(b"GMT").then_some(())
}

fn digits(t: &[u8]) -> Option<u64> {
    t.iter().all(u8::is_ascii_digit).then(|| t.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

fn month(t: &[u8]) -> Option<u64> {
    const NAMES: [&[u8]; 12] =
        [b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec"];
    NAMES.iter().position(|m| m.eq_ignore_ascii_case(t)).map(|i| i as u64 + 1)
}

/// `HH:MM:SS` as seconds of the day.
fn clock(t: &[u8]) -> Option<u64> {
    if t[2] != b':' || t[5] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&t[0..2])?, digits(&t[3..5])?, digits(&t[6..8])?);
    (h < 24 && m < 60 && s < 61).then_some(h * 3600 + m * 60 + s)
}

/// Days from the civil calendar (Howard Hinnant's algorithm), for years from 1970.
fn to_unix(year: u64, month: u64, day: u64, seconds: u64) -> Option<u64> {
    let days_in_month = match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if year < 1970 || day == 0 || day > days_in_month {
        return None;
    }
    let (y, m) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + seconds)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_three_formats_in_any_case() {
        let t = 2_228_868_078; // Sat, 18 Aug 2040 02:01:18 GMT
        assert_eq!(parse("Sat, 18 Aug 2040 02:01:18 GMT"), Some(t));
        assert_eq!(parse("SAT, 18 AUG 2040 02:01:18 gmt"), Some(t));
        assert_eq!(parse("Saturday, 18-Aug-40 02:01:18 GMT"), Some(t));
        assert_eq!(parse("Sat Aug 18 02:01:18 2040"), Some(t));
        assert_eq!(parse("Thu Aug  8 02:01:18 2040"), Some(t - 10 * 86_400), "a wrong weekday is not checked");
        assert_eq!(parse("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951_825_600));
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn what_is_not_a_date() {
        for bad in [
            "0",
            "",
            "Sat, 18 Aug 2040 02:01:18 UTC",
            "Sat, 18 Aug 2040 02:01:18 AEST",
            "Sat, 18 Aug 40 02:01:18 GMT",
            "Sat 18 Aug 2040 02:01:18 GMT",
            "Sat, 18  Aug  2040 02:01:18 GMT",
            "Sat, 18-Aug-2040 02:01:18 GMT",
            "Sat, 18 Aug 2040 02.01.18 GMT",
            "Sat, 18 Aug 2040 2:01:18 GMT",
            "Sat, 31 Feb 2040 02:01:18 GMT",
            "Sat, 18 Aug 2040 25:01:18 GMT",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
