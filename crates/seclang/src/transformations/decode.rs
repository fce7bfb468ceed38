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
        // Walked as bytes (escapes and hex digits are ASCII): the text between two escapes
        // is copied whole, not character by character (bodies of a megabyte go through
        // this for several rules).
        let bytes = input.as_bytes();
        let hex = |from: usize, n: usize| hex_at(bytes, from, n);
        let mut out = String::with_capacity(input.len());
        let mut i = 0;
        while i < bytes.len() {
            let Some(run) = bytes[i..].iter().position(|&b| b == b'%' || b == b'+') else {
                out.push_str(&input[i..]);
                break;
            };
            out.push_str(&input[i..i + run]);
            i += run;
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
                _ => (' ', 1), // `+`
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

/// `t:htmlEntityDecode`, as libmodsecurity decodes entities, and as browsers do where it
/// does less: a numeric reference, decimal or hex, with or without its `;` (`&#60script`,
/// `&#x3c;`: a browser reads both); `&quot` `&amp` `&lt` `&gt` `&nbsp` in any case, with or
/// without `;`; and, beyond libmodsecurity, any other HTML named entity written with its `;`
/// (`javascript&colon;`). (libmodsecurity keeps only the low byte of a number beyond one byte,
/// `&#x13c;` becoming `<`, which makes up ASCII no browser saw; the character is kept here,
/// U+FFFD where the number is none.)
pub struct HtmlEntityDecode;

impl Transformation for HtmlEntityDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        decode_escapes(input, b'&', |input, at, out| decode_entity(&input[at + 1..], out).map(|width| 1 + width))
    }

    fn name(&self) -> &'static str {
        "htmlEntityDecode"
    }
}

/// Writes what the entity `after` an `&` stands for into `out`, returning how many bytes of
/// `after` it took (its `;` included); `None` when no entity begins there.
fn decode_entity(after: &str, out: &mut String) -> Option<usize> {
    let bytes = after.as_bytes();
    let semicolon_at = |end: usize| usize::from(bytes.get(end) == Some(&b';'));
    if bytes.first() == Some(&b'#') {
        let (radix, start) = if matches!(bytes.get(1), Some(b'x' | b'X')) { (16, 2) } else { (10, 1) };
        let digits = bytes[start..].iter().take_while(|b| char::from(**b).is_digit(radix)).count();
        if digits == 0 {
            return None;
        }
        let code = u32::from_str_radix(&after[start..start + digits], radix).ok();
        out.push(code.and_then(char::from_u32).unwrap_or(char::REPLACEMENT_CHARACTER));
        let end = start + digits;
        return Some(end + semicolon_at(end));
    }
    let name_len = bytes.iter().take_while(|b| b.is_ascii_alphanumeric()).count();
    let name = &after[..name_len];
    // libmodsecurity's five, in any case and without their `;`; HTML's others with it.
    const FIVE: [(&str, &str); 5] = [("quot", "\""), ("amp", "&"), ("lt", "<"), ("gt", ">"), ("nbsp", "\u{a0}")];
    let value = match FIVE.iter().find(|(entity, _)| entity.eq_ignore_ascii_case(name)) {
        Some((_, value)) => *value,
        None if name_len > 0 && semicolon_at(name_len) == 1 => {
            let table = &html_escape::NAMED_ENTITIES;
            let found = table.binary_search_by(|(entity, _)| entity.cmp(&name.as_bytes())).ok()?;
            table[found].1
        }
        None => return None,
    };
    out.push_str(value);
    Some(name_len + semicolon_at(name_len))
}

/// `t:jsDecode`, as libmodsecurity decodes JavaScript escapes: `\uHHHH` (a fullwidth ASCII
/// character, U+FF01–U+FF5E, as the ASCII it stands for: `\uff1cscript\uff1e` is
/// `<script>`), `\xHH`, one to three octal digits up to `\377` (`\74script\76`), `\a \b
/// \f \n \r \t \v`, and any other backslash dropped before the character it escapes
/// (`\'`, `\q`, a `\x` or `\u` without its hex digits). A backslash ending the value stays.
/// (libmodsecurity keeps only the low byte of any other `\uHHHH`, `\u4e2d` becoming `-`,
/// which makes up ASCII no script saw; the character is kept here, as in `t:urlDecodeUni`.
/// A surrogate half is no character: its `u` and digits stay as text.)
pub struct JsDecode;

impl Transformation for JsDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        decode_escapes(input, b'\\', |input, at, out| Some(c_escape(input, at, CEscapes::JavaScript, out)))
    }

    fn name(&self) -> &'static str {
        "jsDecode"
    }
}

/// The character an escape's code point stands for to `t:jsDecode` and `t:cssDecode`: a
/// fullwidth ASCII one as its ASCII, as libmodsecurity reads both; any other as itself;
/// `None` for a surrogate half or a number beyond Unicode.
fn escaped_character(code: u32) -> Option<char> {
    match code {
        0xFF01..=0xFF5E => char::from_u32(code - 0xFF00 + 0x20),
        _ => char::from_u32(code),
    }
}

/// The value of the `n` hex digits at `from`, if they are all hex digits.
fn hex_at(bytes: &[u8], from: usize, n: usize) -> Option<u32> {
    let digits = bytes.get(from..from + n)?;
    digits.iter().try_fold(0u32, |value, &b| char::from(b).to_digit(16).map(|d| value * 16 + d))
}

/// Copies `input`, handing each `marker` byte (`\\`, `&`) to `escape`, which writes what the
/// escape there stands for and returns how many bytes it took, the marker included, or
/// `None` when none begins there (the marker is then text). Walked as bytes: markers,
/// escapes and their digits are ASCII. Borrowed when nothing changed.
fn decode_escapes<'a>(
    input: &'a str,
    marker: u8,
    escape: impl Fn(&str, usize, &mut String) -> Option<usize>,
) -> Cow<'a, str> {
    if !input.as_bytes().contains(&marker) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    // The text up to the next marker is copied whole.
    while let Some(run) = input[i..].find(char::from(marker)) {
        out.push_str(&input[i..i + run]);
        i += run;
        match escape(input, i, &mut out) {
            Some(width) => i += width,
            None => {
                out.push(char::from(marker));
                i += 1;
            }
        }
    }
    out.push_str(&input[i..]);
    if out == input {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(out)
    }
}

/// The two C-like escape dialects libmodsecurity reads: `t:jsDecode`'s (also `\uHHHH`;
/// `\x` lower case only; an octal escape one byte at most) and `t:escapeSeqDecode`'s.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CEscapes {
    JavaScript,
    AnsiC,
}

/// The C-like escape whose backslash is at `at`: `\a \b \f \n \r \t \v`, `\xHH`, one to
/// three octal digits (a decoded byte above 0x7F is the character of that code point: the
/// engine's text is UTF-8), `\uHHHH` in JavaScript; any other character stands for itself,
/// the backslash dropped. A backslash ending the value stays.
fn c_escape(input: &str, at: usize, escapes: CEscapes, out: &mut String) -> usize {
    let bytes = input.as_bytes();
    let Some(&next) = bytes.get(at + 1) else {
        out.push('\\');
        return 1;
    };
    let unicode = (escapes == CEscapes::JavaScript && next == b'u')
        .then(|| hex_at(bytes, at + 2, 4))
        .flatten()
        .and_then(escaped_character);
    let hex =
        (next == b'x' || (escapes == CEscapes::AnsiC && next == b'X')).then(|| hex_at(bytes, at + 2, 2)).flatten();
    let (decoded, width) = if let Some(c) = unicode {
        (c, 6)
    } else if let Some(byte) = hex {
        (char::from(byte as u8), 4)
    } else if (b'0'..=b'7').contains(&next) {
        let mut digits = bytes[at + 1..].iter().take(3).take_while(|b| (b'0'..=b'7').contains(*b)).count();
        // JavaScript's is one byte at most: a third digit only after a 0 to 3. ANSI C's
        // keeps the low byte of what three digits make.
        if escapes == CEscapes::JavaScript && digits == 3 && next > b'3' {
            digits = 2;
        }
        let value = bytes[at + 1..at + 1 + digits].iter().fold(0u32, |v, d| v * 8 + u32::from(d - b'0'));
        (char::from(value as u8), 1 + digits)
    } else {
        let c = match next {
            b'a' => '\x07',
            b'b' => '\x08',
            b'f' => '\x0c',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'v' => '\x0b',
            _ => input[at + 1..].chars().next().expect("within the value"),
        };
        // Each escape letter is one byte, as is the character it stands for.
        (c, 1 + c.len_utf8())
    };
    out.push(decoded);
    width
}

/// The CSS escape whose backslash is at `at` (`t:cssDecode`): one to six hex digits and one
/// whitespace after them; a newline after the backslash, or nothing, is dropped with it;
/// any other character stands for itself.
fn css_escape(input: &str, at: usize, out: &mut String) -> usize {
    let bytes = input.as_bytes();
    let digits = bytes[at + 1..].iter().take(6).take_while(|b| b.is_ascii_hexdigit()).count();
    if digits > 0 {
        let code = hex_at(bytes, at + 1, digits).expect("hex digits");
        out.push(escaped_character(code).unwrap_or(char::REPLACEMENT_CHARACTER));
        // C's whitespace, as libmodsecurity's `isspace`.
        let space =
            bytes.get(at + 1 + digits).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'));
        return 1 + digits + usize::from(space);
    }
    match input[at + 1..].chars().next() {
        Some('\n') => 2,
        Some(c) => {
            out.push(c);
            1 + c.len_utf8()
        }
        None => 1,
    }
}

/// `t:cssDecode`, as libmodsecurity decodes CSS escapes: a backslash and one to six hex
/// digits (one whitespace after them is part of the escape: `\3c script` is `<script`), a
/// fullwidth ASCII character (U+FF01–U+FF5E) as the ASCII it stands for; a backslash
/// before a newline, or ending the value, is dropped with it (a line continuation); before
/// anything else the backslash is dropped and the character kept (`ja\vascript`).
/// (libmodsecurity keeps only the low byte of a code point beyond one byte, `\13c` becoming
/// `<`, which makes up ASCII no browser saw; the character is kept here, U+FFFD where the
/// number is none, as CSS has it.)
pub struct CssDecode;

impl Transformation for CssDecode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        decode_escapes(input, b'\\', |input, at, out| Some(css_escape(input, at, out)))
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
        decode_escapes(input, b'\\', |input, at, out| Some(c_escape(input, at, CEscapes::AnsiC, out)))
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

    #[test]
    fn html_entity_decode_reads_references_as_libmodsecurity_and_browsers_do() {
        let t = HtmlEntityDecode;
        assert_eq!(t.transform("&#60script&#62 &#x3C;/script&#X3e;"), "<script> </script>", "; optional");
        assert_eq!(t.transform("&LT;a&gt &QuOt;&amp;&nbsp;"), "<a> \"&\u{a0}", "the five in any case");
        assert_eq!(t.transform("javascript&colon;alert&lpar;1&rpar;"), "javascript:alert(1)", "HTML's with their ;");
        assert_eq!(t.transform("&ltscript &colon &unknown; & &# &#x;"), "&ltscript &colon &unknown; & &# &#x;");
        assert_eq!(t.transform("&#0;&#x4e2d;&#1114112;"), "\0中\u{fffd}");
        assert!(matches!(t.transform("a & b"), Cow::Borrowed(_)));
    }

    #[test]
    fn css_decode_reads_escapes_as_libmodsecurity_does() {
        let t = CssDecode;
        assert_eq!(t.transform(r"\3c script\3E"), "<script>", "one whitespace ends an escape");
        assert_eq!(t.transform(r"\00003cx\0000003c"), "<x\u{0}3c", "six digits at most");
        assert_eq!(t.transform(r"\ff1c\FF1E"), "<>", "fullwidth ASCII");
        assert_eq!(t.transform(r"ja\vascript:\"), "javascript:", "other backslashes dropped");
        assert_eq!(t.transform("a\\\nb"), "ab", "a line continuation");
        assert_eq!(t.transform(r"\e9\4e2d\110000"), "é中\u{fffd}");
        assert!(matches!(t.transform("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn js_decode_reads_escapes_as_libmodsecurity_does() {
        let t = JsDecode;
        assert_eq!(t.transform(r"\74script\76alert(1)\74/script\76"), "<script>alert(1)</script>", "octal");
        assert_eq!(t.transform(r"\uff1cscript\uff1e"), "<script>", "fullwidth ASCII");
        assert_eq!(t.transform(r"\u4e2d\u00e9"), "中é", "other characters stay themselves");
        assert_eq!(t.transform(r"\0\101\1010\400"), "\0AA0\u{20}0", "three digits up to \\377");
        assert_eq!(t.transform(r#"\'\"\\\q\é"#), "'\"\\qé", "other backslashes dropped");
        assert_eq!(t.transform(r"\a\b\f\v\n\r\t"), "\x07\x08\x0c\x0b\n\r\t");
        assert_eq!(t.transform(r"\xZZ\u12\x4"), "xZZu12x4", "no hex digits: the letter alone");
        assert_eq!(t.transform(r"\ud83d!"), "ud83d!", "a surrogate half is no character");
        assert_eq!(t.transform(r"\u\x41"), "uA", "what follows a bad escape is read again");
        assert_eq!(t.transform("end\\"), "end\\", "a last backslash stays");
        assert!(matches!(t.transform("plain"), Cow::Borrowed(_)));
    }
}
