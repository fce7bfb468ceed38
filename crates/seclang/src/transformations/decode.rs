//! Decoding transformations.

use super::unicode_map::best_fit;
use super::Transformation;
use std::borrow::Cow;

/// URL decode transformation.
pub struct UrlDecode;

impl Transformation for UrlDecode {
    /// As ModSecurity: `+` is a space, `%XX` a byte; bytes that are not UTF-8 become
    /// U+FFFD rather than leaving the whole input undecoded (a `%FF` appended to an
    /// attack hid it from every rule that decodes).
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if !input.contains(['%', '+']) {
            return Cow::Borrowed(input);
        }
        let spaced = input.replace('+', " ");
        Cow::Owned(percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
    }

    fn name(&self) -> &'static str {
        "urlDecode"
    }
}

/// URL decode with Unicode support.
pub struct UrlDecodeUni;

impl Transformation for UrlDecodeUni {
    /// As ModSecurity: `%XX` a byte, `%uXXXX` a character (or its ASCII best fit), `+` a
    /// space; a `%` not followed by hex digits stays, and what follows it is decoded on its
    /// own (`%+c` is `% c`).
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if !input.contains(['%', '+']) {
            return Cow::Borrowed(input);
        }
        // Walked as bytes (escapes and hex digits are ASCII), not collected into chars.
        let bytes = input.as_bytes();
        // The value of `n` hex digits at `from`, if they are all hex digits.
        let hex = |from: usize, n: usize| -> Option<u32> {
            let digits = bytes.get(from..from + n)?;
            digits.iter().try_fold(0u32, |value, &b| char::from(b).to_digit(16).map(|d| value * 16 + d))
        };
        let mut out = String::with_capacity(input.len());
        let mut i = 0;
        while i < bytes.len() {
            let (decoded, width) = match bytes[i] {
                // A character, or the ASCII it is a best fit for (`unicode_map.rs`), as
                // ModSecurity with its recommended map. (ModSecurity keeps the low byte of a
                // character the map lacks — `東` U+6771 becomes `q` — which only makes up
                // ASCII a backend never saw; the character is kept here.)
                b'%' if matches!(bytes.get(i + 1), Some(b'u' | b'U')) => {
                    let code = hex(i + 2, 4);
                    match code.and_then(best_fit).map(char::from).or(code.and_then(char::from_u32)) {
                        Some(c) => (c, 6),
                        None => ('%', 1),
                    }
                }
                // A byte, as the Latin-1 character of that number (the engine's text is UTF-8).
                b'%' => match hex(i + 1, 2) {
                    Some(byte) => (byte as u8 as char, 3),
                    None => ('%', 1),
                },
                b'+' => (' ', 1),
                _ => {
                    let c = input[i..].chars().next().unwrap_or('\u{FFFD}');
                    (c, c.len_utf8())
                }
            };
            out.push(decoded);
            i += width;
        }
        Cow::Owned(out)
    }

    fn name(&self) -> &'static str {
        "urlDecodeUni"
    }
}

/// Base64 decode transformation.
pub struct Base64Decode;

impl Transformation for Base64Decode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        use base64::Engine;
        match base64::engine::general_purpose::STANDARD.decode(input) {
            Ok(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => Cow::Borrowed(input),
        }
    }

    fn name(&self) -> &'static str {
        "base64Decode"
    }
}

/// Extended base64 decode (handles URL-safe base64).
pub struct Base64DecodeExt;

impl Transformation for Base64DecodeExt {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        use base64::Engine;
        // Try URL-safe first, then standard
        let result = base64::engine::general_purpose::URL_SAFE
            .decode(input)
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(input));

        match result {
            Ok(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
            Err(_) => Cow::Borrowed(input),
        }
    }

    fn name(&self) -> &'static str {
        "base64DecodeExt"
    }
}

/// Hex decode transformation.
pub struct HexDecode;

impl Transformation for HexDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut result = Vec::new();
        let mut chars = input.chars().peekable();

        while let Some(c1) = chars.next() {
            if let Some(c2) = chars.next() {
                let hex = format!("{}{}", c1, c2);
                if let Ok(byte) = u8::from_str_radix(&hex, 16) {
                    result.push(byte);
                } else {
                    // Invalid hex, keep original
                    return Cow::Borrowed(input);
                }
            } else {
                // Odd number of chars
                return Cow::Borrowed(input);
            }
        }

        Cow::Owned(String::from_utf8_lossy(&result).into_owned())
    }

    fn name(&self) -> &'static str {
        "hexDecode"
    }
}

/// HTML entity decode transformation.
pub struct HtmlEntityDecode;

impl Transformation for HtmlEntityDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let decoded = html_escape::decode_html_entities(input);
        if decoded == input {
            Cow::Borrowed(input)
        } else {
            Cow::Owned(decoded.into_owned())
        }
    }

    fn name(&self) -> &'static str {
        "htmlEntityDecode"
    }
}

/// JavaScript decode transformation.
pub struct JsDecode;

impl Transformation for JsDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut result = String::new();
        let mut chars = input.chars().peekable();
        let mut modified = false;

        while let Some(c) = chars.next() {
            if c == '\\' {
                modified = true;
                match chars.next() {
                    Some('n') => result.push('\n'),
                    Some('r') => result.push('\r'),
                    Some('t') => result.push('\t'),
                    Some('\\') => result.push('\\'),
                    Some('"') => result.push('"'),
                    Some('\'') => result.push('\''),
                    Some('x') => {
                        // \xHH
                        let mut hex = String::new();
                        for _ in 0..2 {
                            if let Some(h) = chars.next() {
                                hex.push(h);
                            }
                        }
                        // Hex digits only, as ModSecurity checks: `%+c` is no byte.
                        let digits = hex.len() == 2 && hex.chars().all(|h| h.is_ascii_hexdigit());
                        if let Some(byte) = digits.then(|| u8::from_str_radix(&hex, 16).ok()).flatten() {
                            result.push(byte as char);
                        } else {
                            result.push('\\');
                            result.push('x');
                            result.push_str(&hex);
                        }
                    }
                    Some('u') => {
                        // \uHHHH
                        let mut hex = String::new();
                        for _ in 0..4 {
                            if let Some(h) = chars.next() {
                                hex.push(h);
                            }
                        }
                        // Hex digits only: `from_str_radix` also takes a sign (`%u+abc`).
                        let digits = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
                        if let Some(code) = digits.then(|| u32::from_str_radix(&hex, 16).ok()).flatten() {
                            if let Some(decoded) = char::from_u32(code) {
                                result.push(decoded);
                            } else {
                                result.push('\\');
                                result.push('u');
                                result.push_str(&hex);
                            }
                        } else {
                            result.push('\\');
                            result.push('u');
                            result.push_str(&hex);
                        }
                    }
                    Some(other) => {
                        result.push('\\');
                        result.push(other);
                    }
                    None => result.push('\\'),
                }
            } else {
                result.push(c);
            }
        }

        if modified {
            Cow::Owned(result)
        } else {
            Cow::Borrowed(input)
        }
    }

    fn name(&self) -> &'static str {
        "jsDecode"
    }
}

/// CSS decode transformation.
pub struct CssDecode;

impl Transformation for CssDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut result = String::new();
        let mut chars = input.chars().peekable();
        let mut modified = false;

        while let Some(c) = chars.next() {
            if c == '\\' {
                modified = true;
                // CSS escape: \HH or \HHHHHH
                let mut hex = String::new();
                while hex.len() < 6 {
                    match chars.peek() {
                        Some(h) if h.is_ascii_hexdigit() => {
                            hex.push(chars.next().unwrap());
                        }
                        _ => break,
                    }
                }
                // Skip optional whitespace after hex
                if let Some(' ') | Some('\t') | Some('\n') = chars.peek() {
                    chars.next();
                }

                if !hex.is_empty() {
                    // Hex digits only: `from_str_radix` also takes a sign (`%u+abc`).
                    let digits = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
                    if let Some(code) = digits.then(|| u32::from_str_radix(&hex, 16).ok()).flatten() {
                        if let Some(decoded) = char::from_u32(code) {
                            result.push(decoded);
                            continue;
                        }
                    }
                }
                result.push('\\');
                result.push_str(&hex);
            } else {
                result.push(c);
            }
        }

        if modified {
            Cow::Owned(result)
        } else {
            Cow::Borrowed(input)
        }
    }

    fn name(&self) -> &'static str {
        "cssDecode"
    }
}

/// SQL hex decode transformation.
pub struct SqlHexDecode;

impl Transformation for SqlHexDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        // Decode SQL hex strings like 0x41424344 to ABCD
        let mut result = String::new();
        let mut chars = input.chars().peekable();
        let mut modified = false;

        while let Some(c) = chars.next() {
            if c == '0' && chars.peek() == Some(&'x') {
                chars.next(); // consume 'x'
                let mut hex = String::new();
                while let Some(&next) = chars.peek() {
                    if next.is_ascii_hexdigit() {
                        hex.push(chars.next().unwrap());
                    } else {
                        break;
                    }
                }
                // Decode hex pairs
                let mut i = 0;
                while i + 1 < hex.len() {
                    if let Ok(byte) = u8::from_str_radix(&hex[i..i + 2], 16) {
                        result.push(byte as char);
                    }
                    i += 2;
                }
                modified = true;
            } else {
                result.push(c);
            }
        }

        if modified {
            Cow::Owned(result)
        } else {
            Cow::Borrowed(input)
        }
    }

    fn name(&self) -> &'static str {
        "sqlHexDecode"
    }
}

/// `t:escapeSeqDecode`: ANSI C escapes decoded as libmodsecurity decodes them — `\a \b \f
/// \n \r \t \v \\ \? \' \"`, `\xHH` (exactly two hex digits) and one to three octal
/// digits (`\101` → `A`, `\0` → NUL; above `\377` the low byte). Any other backslash is
/// dropped and the character after it kept (`wh\oami` → `whoami`, `\u0041` → `u0041`,
/// `\xZZ` → `xZZ`): what CRS's shell rules (932...) rely on to see a command through the
/// backslashes a shell ignores. A backslash ending the value stays. A decoded byte above
/// 0x7F is the character of that code point (the engine's text is UTF-8).
pub struct EscapeSeqDecode;

impl Transformation for EscapeSeqDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if !input.contains('\\') {
            return Cow::Borrowed(input);
        }
        let mut out = String::with_capacity(input.len());
        let mut chars = input.chars().peekable();
        while let Some(c) = chars.next() {
            let Some(&next) = chars.peek().filter(|_| c == '\\') else {
                out.push(c);
                continue;
            };
            chars.next();
            let simple = match next {
                'a' => Some('\x07'),
                'b' => Some('\x08'),
                'f' => Some('\x0c'),
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                'v' => Some('\x0b'),
                '\\' | '?' | '\'' | '"' => Some(next),
                _ => None,
            };
            if let Some(decoded) = simple {
                out.push(decoded);
            } else if next == 'x' || next == 'X' {
                let mut ahead = chars.clone();
                match (ahead.next().and_then(|h| h.to_digit(16)), ahead.next().and_then(|l| l.to_digit(16))) {
                    (Some(high), Some(low)) => {
                        out.push(char::from((high * 16 + low) as u8));
                        chars = ahead;
                    }
                    _ => out.push(next),
                }
            } else if let Some(first) = next.to_digit(8) {
                let mut value = first;
                for _ in 0..2 {
                    match chars.peek().and_then(|d| d.to_digit(8)) {
                        Some(digit) => {
                            value = value * 8 + digit;
                            chars.next();
                        }
                        None => break,
                    }
                }
                out.push(char::from(value as u8));
            } else {
                out.push(next);
            }
        }
        if out == input {
            Cow::Borrowed(input)
        } else {
            Cow::Owned(out)
        }
    }

    fn name(&self) -> &'static str {
        "escapeSeqDecode"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_seq_decode_reads_ansi_c_escapes_as_libmodsecurity_does() {
        let t = EscapeSeqDecode;
        assert_eq!(t.transform(r#"a\tb\nc\\d\'e\"f\?"#), "a\tb\nc\\d'e\"f?");
        assert_eq!(t.transform(r"\a\b\f\v"), "\x07\x08\x0c\x0b");
        assert_eq!(t.transform(r"\x41\X42\x4"), "ABx4", "two hex digits, or the x alone");
        assert_eq!(t.transform(r"\101\0\60x\1018"), "A\0\u{30}xA8", "up to three octal digits");
        assert_eq!(t.transform(r"\777"), "\u{ff}", "the low byte");
        assert_eq!(t.transform(r"wh\oami c\a\t \u0041"), "whoami c\x07\t u0041", "other backslashes dropped");
        assert_eq!(t.transform("end\\"), "end\\", "a last backslash stays");
        assert!(matches!(t.transform("no escapes"), Cow::Borrowed(_)));
    }

    #[test]
    fn test_url_decode() {
        let t = UrlDecode;
        assert_eq!(t.transform("hello%20world"), "hello world");
        assert_eq!(t.transform("test%2Fpath"), "test/path");
        assert_eq!(t.transform("a+b%2Bc"), "a b+c");
        assert_eq!(t.transform("%27 or 1=1%FF"), "' or 1=1\u{FFFD}", "invalid UTF-8 does not stop decoding");
    }

    #[test]
    fn url_decode_uni_turns_plus_into_a_space_as_modsecurity_does() {
        assert_eq!(UrlDecodeUni.transform("having+the%2Bexec%u0027"), "having the+exec'");
        // `%+c` and `%u+abc` are not escapes (a sign is no hex digit): left as they are.
        assert_eq!(UrlDecodeUni.transform("100%+cotton %u+abc"), "100% cotton %u abc");
        // Characters beyond ASCII pass whole; `%C3` is the byte, as the Latin-1 character;
        // `%u00e9` its ASCII best fit, `%u6771` (no best fit) the character.
        assert_eq!(UrlDecodeUni.transform("café+%C3%u00e9%u6771"), "café \u{C3}e東");
    }

    #[test]
    fn test_base64_decode() {
        let t = Base64Decode;
        assert_eq!(t.transform("aGVsbG8="), "hello");
    }

    #[test]
    fn test_html_entity_decode() {
        let t = HtmlEntityDecode;
        assert_eq!(t.transform("&lt;script&gt;"), "<script>");
        assert_eq!(t.transform("&#60;"), "<");
    }

    #[test]
    fn test_js_decode() {
        let t = JsDecode;
        assert_eq!(t.transform(r"\x3cscript\x3e"), "<script>");
        assert_eq!(t.transform(r"\u003c"), "<");
    }
}
