//! Bytes that are not UTF-8 turned into the engine's text, overlong sequences included.
//!
//! An argument's percent-decoded bytes need not be UTF-8. An overlong sequence (`%c0%af`, a
//! 2-byte spelling of `/`) is how traversals have slipped past decoders since IIS: a server
//! that decodes it the lenient way sees `../`. ModSecurity keeps the bytes and its rules'
//! `t:utf8toUnicode` spells such a sequence out, and drops a lead byte whose sequence is
//! broken (so CRS 930110 finds `..%c0%af` and `..%c0%2f` in a query); here that happens
//! once, before any rule runs, so that every rule sees what a lenient backend would.
use std::borrow::Cow;

/// `bytes` as text: UTF-8 as it is; an overlong sequence as its character; a lead byte
/// whose sequence is broken dropped, as ModSecurity's `utf8toUnicode` drops it (`..%c0%2f`
/// is `../` to it, and so to CRS 930110); any other invalid byte as U+FFFD.
pub fn decode_lossy(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        let error = match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return Cow::Owned(out);
            }
            Err(error) => error,
        };
        let (valid, invalid) = rest.split_at(error.valid_up_to());
        out.push_str(std::str::from_utf8(valid).expect("valid up to here"));
        rest = match overlong(invalid) {
            Some((c, width)) => {
                out.push(c);
                &invalid[width..]
            }
            None if (0xC0..=0xF7).contains(&invalid[0]) => &invalid[1..],
            None => {
                out.push('\u{FFFD}');
                &invalid[1..]
            }
        };
    }
}

/// The character an overlong sequence at the start of `bytes` spells, and its length.
fn overlong(bytes: &[u8]) -> Option<(char, usize)> {
    let cont = |i: usize, range: std::ops::RangeInclusive<u8>| {
        bytes.get(i).filter(|b| range.contains(b)).map(|b| u32::from(b & 0x3F))
    };
    let (code, width) = match bytes.first()? {
        lead @ (0xC0 | 0xC1) => ((u32::from(lead & 0x1F) << 6) | cont(1, 0x80..=0xBF)?, 2),
        0xE0 => ((cont(1, 0x80..=0x9F)? << 6) | cont(2, 0x80..=0xBF)?, 3),
        0xF0 => ((cont(1, 0x80..=0x8F)? << 12) | (cont(2, 0x80..=0xBF)? << 6) | cont(3, 0x80..=0xBF)?, 4),
        _ => return None,
    };
    char::from_u32(code).map(|c| (c, width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_sequences_become_what_they_spell() {
        assert!(matches!(decode_lossy("plain é".as_bytes()), Cow::Borrowed("plain é")));
        assert_eq!(decode_lossy(b"..\xC0\xAFetc\xC0\xAFpasswd"), "../etc/passwd");
        assert_eq!(decode_lossy(b"..\xC1\x9Cboot.ini"), "..\\boot.ini");
        assert_eq!(decode_lossy(b"\xC0\xAE\xC0\xAE/x"), "../x");
        assert_eq!(decode_lossy(b"\xE0\x80\xAF"), "/", "three bytes");
        assert_eq!(decode_lossy(b"\xF0\x80\x80\xAF"), "/", "four bytes");
        assert_eq!(decode_lossy(b"\xE0\xA4\x85 \xC0\xAF"), "अ /", "a valid sequence led by E0 is kept");
    }

    #[test]
    fn broken_sequences_lose_their_lead_and_stray_bytes_are_replacement_characters() {
        assert_eq!(decode_lossy(b"..\xC0/x"), "../x", "a lead byte before no continuation");
        assert_eq!(decode_lossy(b"\xC0\xAE\xC0\x2E/x"), "../x");
        assert_eq!(decode_lossy(b"caf\xE9"), "caf", "Latin-1 is not UTF-8: the lead byte goes");
        assert_eq!(decode_lossy(b"a\xFFb\x80"), "a\u{FFFD}b\u{FFFD}", "no lead bytes");
        assert_eq!(decode_lossy(b"\xF0\x80\x80"), "\u{FFFD}\u{FFFD}", "cut short: the lead goes");
        assert_eq!(decode_lossy(b"\xF0\x8D\xA0\x80"), "\u{FFFD}\u{FFFD}\u{FFFD}", "a surrogate's spelling");
    }
}
