//! `t:base64Decode` and `t:base64DecodeExt` as libmodsecurity 3.0 decodes, which is what
//! CRS's rules are tested against.
//!
//! A strict decoder that refused anything but canonical, padded base64 and left such a
//! value as it was differed from it in both directions: a base64 payload without padding
//! (`X18kJE5EX0ZVTkMkJF8`: the node-serialize marker, as cookies carry it) passed where
//! ModSecurity decodes every whole group and finds it, and a value that is not base64 at
//! all went on, undecoded, to the transformations after this one (CRS 934100 and 934160
//! URL-decode again after it), where ModSecurity gives them nothing. The outputs the tests
//! below expect were read from libmodsecurity 3.0.9 itself (Debian 12's, through nginx).

use super::Transformation;
use std::borrow::Cow;

/// `t:base64Decode`: base64 as mbedtls's decoder reads it inside libmodsecurity, and an
/// empty value where it finds the text invalid.
pub struct Base64Decode;

impl Transformation for Base64Decode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        match decode_strict(input.as_bytes()) {
            Some(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
            None => Cow::Owned(String::new()),
        }
    }

    fn name(&self) -> &'static str {
        "base64Decode"
    }
}

/// `t:base64DecodeExt`: the forgiving reading, which skips whatever is not base64.
pub struct Base64DecodeExt;

impl Transformation for Base64DecodeExt {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        Cow::Owned(String::from_utf8_lossy(&decode_forgiving(input.as_bytes())).into_owned())
    }

    fn name(&self) -> &'static str {
        "base64DecodeExt"
    }
}

/// The standard alphabet's value of a byte (`+` and `/`, not the URL-safe `-` and `_`).
fn symbol(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// The strict reading; `None` for text it refuses. It reads up to the first NUL (the C
/// string libmodsecurity hands over); skips line breaks (`\n`, `\r\n`) and spaces that
/// end a line or the text; refuses a space inside a line, any other byte outside the
/// alphabet, more than two `=`, and a symbol after an `=`; and decodes whole groups of
/// four only, so a last group of two or three symbols without its padding is dropped.
fn decode_strict(input: &[u8]) -> Option<Vec<u8>> {
    let text = &input[..input.iter().position(|&b| b == 0).unwrap_or(input.len())];
    let line_break_at = |i: usize| text[i] == b'\n' || (text[i] == b'\r' && text.get(i + 1) == Some(&b'\n'));
    let mut pads = 0;
    let mut i = 0;
    while i < text.len() {
        let spaces_from = i;
        while i < text.len() && text[i] == b' ' {
            i += 1;
        }
        if i == text.len() {
            break;
        }
        if line_break_at(i) {
            i += 1;
            continue;
        }
        if i > spaces_from {
            return None;
        }
        match text[i] {
            b'=' => {
                pads += 1;
                if pads > 2 {
                    return None;
                }
            }
            byte if symbol(byte).is_some() && pads == 0 => {}
            _ => return None,
        }
        i += 1;
    }

    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut group, mut in_group, mut wanted) = (0u32, 0, 3);
    for &byte in text.iter().filter(|&&b| !matches!(b, b'\r' | b'\n' | b' ')) {
        if byte == b'=' {
            wanted -= 1;
        }
        group = (group << 6) | u32::from(symbol(byte).unwrap_or(0));
        in_group += 1;
        if in_group == 4 {
            let bytes = [(group >> 16) as u8, (group >> 8) as u8, group as u8];
            out.extend_from_slice(&bytes[..wanted]);
            in_group = 0;
        }
    }
    Some(out)
}

/// The forgiving reading: bytes outside the alphabet are skipped, every whole byte the
/// symbols make is kept (a trailing partial group too), and an `=` that leaves a single
/// symbol of its group (`a=bc`) makes the whole result empty, as in libmodsecurity 3.0.
fn decode_forgiving(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 2);
    let (mut partial, mut symbols) = (0u8, 0usize);
    for (i, &byte) in input.iter().enumerate() {
        if byte == b'=' {
            if symbols % 4 == 1 && input.get(i + 1) != Some(&b'=') {
                return Vec::new();
            }
            continue;
        }
        let Some(value) = symbol(byte) else { continue };
        match symbols % 4 {
            0 => partial = value << 2,
            1 => {
                out.push(partial | value >> 4);
                partial = (value & 0x0f) << 4;
            }
            2 => {
                out.push(partial | value >> 2);
                partial = (value & 0x03) << 6;
            }
            _ => out.push(partial | value),
        }
        symbols += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each input with what libmodsecurity 3.0.9 gave for it.
    #[test]
    fn base64_decode_reads_as_libmodsecurity() {
        let cases: &[(&str, &[u8])] = &[
            ("aGVsbG8=", b"hello"),
            ("aGVsbG8", b"hel"),
            ("aGVsbG8gd29ybGQ", b"hello wor"),
            ("hello", b"\x85\xe9e"),
            ("abc=", b"i\xb7"),
            ("aGVs bG8=", b""),
            ("aGVs\nbG8=", b"hello"),
            ("a=bc", b""),
            ("YWJj==", b"abc"),
            ("YWI=", b"ab"),
            ("YQ==", b"a"),
            ("===YWJj", b""),
            ("Zm9v\0YmFy", b"foo"),
            ("abc-_", b""),
            ("Pz8-", b""),
            ("café naïve", b""),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_strict(input.as_bytes()).unwrap_or_default(), *expected, "{input:?}");
        }
        assert_eq!(Base64Decode.transform("aGVsbG8="), "hello");
        assert_eq!(Base64Decode.transform("not base64!"), "");
    }

    #[test]
    fn base64_decode_skips_line_breaks_and_spaces_ending_a_line() {
        assert_eq!(decode_strict(b"aGVs\r\nbG8=  \r\n").unwrap(), b"hello");
        assert_eq!(decode_strict(b"aGVs  \nbG8=").unwrap(), b"hello");
        assert_eq!(decode_strict(b"aGVs\rbG8="), None);
        assert_eq!(decode_strict(b"   ").unwrap(), b"");
    }

    /// A node-serialize payload as base64 without its padding: decoded, as ModSecurity
    /// decodes it, so CRS 934100 sees the marker.
    #[test]
    fn unpadded_base64_payloads_are_decoded() {
        use base64::Engine;
        let payload = "_$$ND_FUNC$$_function(){require('child_process').exec('id')}";
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(payload);
        assert!(Base64Decode.transform(&unpadded).starts_with("_$$ND_FUNC$$_function(){"));
    }

    /// Each input with what libmodsecurity 3.0.9 gave for it.
    #[test]
    fn base64_decode_ext_reads_as_libmodsecurity() {
        let cases: &[(&str, &[u8])] = &[
            ("aGVsbG8=", b"hello"),
            ("aGVsbG8", b"hello"),
            ("aGVsbG8gd29ybGQ", b"hello world"),
            ("hello", b"\x85\xe9e"),
            ("abc=", b"i\xb7"),
            ("aGVs bG8=", b"hello"),
            ("a=bc", b""),
            ("YWJj==", b"abc"),
            ("===YWJj", b"abc"),
            ("Zm9v\0YmFy", b"foobar"),
            ("abc-_", b"i\xb7"),
            ("Pz8-", b"??"),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_forgiving(input.as_bytes()), *expected, "{input:?}");
        }
    }
}
