//! A body made text: what `String::from_utf8_lossy` makes (each maximal invalid
//! subsequence one U+FFFD, as the Unicode standard recommends), in one pass. On an
//! upload's megabytes of random-looking bytes (a photo) std's chunk iterator stops at
//! every other byte; this loop does not, and copies runs of ASCII whole.

/// `bytes` as text, as `String::from_utf8_lossy(bytes)` has it, and whether they were
/// UTF-8 (the text is then the bytes themselves).
pub fn text(bytes: &[u8]) -> (String, bool) {
    // Room for the worst case (every byte a U+FFFD, three bytes): growing the text of an
    // upload's megabytes costs a copy and fresh pages each time; room never written to
    // costs no memory.
    let mut out = String::with_capacity(bytes.len() * 3);
    let mut utf8 = true;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] < 0x80 {
            // A long run of ASCII (text) goes whole; a short one (random bytes) byte by
            // byte, where looking for its end would cost more than it saves.
            if bytes.get(at..at + 16).is_some_and(|run| run.is_ascii()) {
                let end = bytes[at..].iter().position(|&b| b >= 0x80).map_or(bytes.len(), |n| at + n);
                out.push_str(std::str::from_utf8(&bytes[at..end]).unwrap_or_default());
                at = end;
            } else {
                out.push(char::from(bytes[at]));
                at += 1;
            }
            continue;
        }
        match sequence(&bytes[at..]) {
            Ok((c, width)) => {
                out.push(c);
                at += width;
            }
            Err(width) => {
                out.push('\u{FFFD}');
                utf8 = false;
                at += width;
            }
        }
    }
    (out, utf8)
}

/// The character a UTF-8 sequence at the start of `bytes` (its first byte not ASCII)
/// spells and its length; or, for an invalid one, the length of its maximal invalid
/// prefix (what one U+FFFD stands for), as `core::str::lossy::Utf8Chunks` decides it.
fn sequence(bytes: &[u8]) -> Result<(char, usize), usize> {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let tail = |i: usize| (at(i) & 0xC0 == 0x80).then(|| u32::from(at(i) & 0x3F));
    let first = bytes[0];
    let (code, width) = match first {
        0xC2..=0xDF => ((u32::from(first & 0x1F) << 6) | tail(1).ok_or(1usize)?, 2),
        0xE0..=0xEF => {
            let second = matches!(
                (first, at(1)),
                (0xE0, 0xA0..=0xBF) | (0xE1..=0xEC, 0x80..=0xBF) | (0xED, 0x80..=0x9F) | (0xEE..=0xEF, 0x80..=0xBF)
            );
            let second = if second { tail(1) } else { None }.ok_or(1usize)?;
            ((u32::from(first & 0x0F) << 12) | (second << 6) | tail(2).ok_or(2usize)?, 3)
        }
        0xF0..=0xF4 => {
            let second =
                matches!((first, at(1)), (0xF0, 0x90..=0xBF) | (0xF1..=0xF3, 0x80..=0xBF) | (0xF4, 0x80..=0x8F));
            let second = if second { tail(1) } else { None }.ok_or(1usize)?;
            let third = tail(2).ok_or(2usize)?;
            ((u32::from(first & 0x07) << 18) | (second << 12) | (third << 6) | tail(3).ok_or(3usize)?, 4)
        }
        _ => return Err(1),
    };
    char::from_u32(code).map(|c| (c, width)).ok_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_as_std_for_any_bytes() {
        let cases: [&[u8]; 12] = [
            b"",
            b"plain ascii",
            "h\u{e9}llo w\u{f6}rld \u{1F600} \u{20AC}".as_bytes(),
            b"\xff\xfe\x80abc",
            b"\xe2\x82",
            b"\xe2\x82x",
            b"\xf0\x9f\x98",
            b"\xf0\x9f\x98\xff",
            b"\xed\xa0\x80",
            b"\xc0\xaf\xc1\xbf",
            b"\xf4\x90\x80\x80\xf5",
            b"\xe0\x80\xaf trailing \xc3",
        ];
        for bytes in cases {
            assert_eq!(text(bytes).0, String::from_utf8_lossy(bytes), "{bytes:?}");
            assert_eq!(text(bytes).1, std::str::from_utf8(bytes).is_ok(), "{bytes:?}");
        }
        // Random bytes, and random bytes mostly ASCII, as uploads and texts are.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..2_000 {
            let bytes: Vec<u8> = (0..(round % 97))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let b = (state >> 32) as u8;
                    if round % 2 == 0 && !b.is_multiple_of(4) {
                        b & 0x7F
                    } else {
                        b
                    }
                })
                .collect();
            assert_eq!(text(&bytes).0, String::from_utf8_lossy(&bytes), "{bytes:?}");
            assert_eq!(text(&bytes).1, std::str::from_utf8(&bytes).is_ok(), "{bytes:?}");
        }
    }
}
