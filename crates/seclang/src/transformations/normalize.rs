//! Normalization transformations.

use super::Transformation;
use std::borrow::Cow;

/// Lowercase transformation.
pub struct Lowercase;

impl Transformation for Lowercase {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        // libmodsecurity lowers byte by byte with `std::tolower` in the C locale: ASCII
        // letters only. (Unicode's lowercasing differs, `K` U+212A becomes `k`, and costs
        // far more on long text.) Most values have no capital: then nothing is allocated.
        match any_byte(input, |b| b.is_ascii_uppercase()) {
            true => Cow::Owned(input.to_ascii_lowercase()),
            false => Cow::Borrowed(input),
        }
    }

    fn name(&self) -> &'static str {
        "lowercase"
    }
}

/// Whether a byte of `input` is one `pick` picks: 64 bytes at a time without an early exit
/// within them, which the compiler turns into vector instructions (a body of a megabyte
/// passes here for each rule that lowers it).
fn any_byte(input: &str, pick: impl Fn(u8) -> bool) -> bool {
    input.as_bytes().chunks(64).any(|chunk| chunk.iter().fold(false, |found, &b| found | pick(b)))
}

/// Uppercase transformation.
pub struct Uppercase;

impl Transformation for Uppercase {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        // ASCII letters only, as `std::toupper` in the C locale (see `Lowercase`).
        match any_byte(input, |b| b.is_ascii_lowercase()) {
            true => Cow::Owned(input.to_ascii_uppercase()),
            false => Cow::Borrowed(input),
        }
    }

    fn name(&self) -> &'static str {
        "uppercase"
    }
}

/// Compress whitespace transformation.
pub struct CompressWhitespace;

impl Transformation for CompressWhitespace {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut result = String::new();
        let mut last_was_space = false;
        let mut modified = false;

        for c in input.chars() {
            if c.is_whitespace() {
                if !last_was_space {
                    result.push(' ');
                } else {
                    modified = true;
                }
                last_was_space = true;
            } else {
                result.push(c);
                last_was_space = false;
            }
        }

        if modified || result.chars().any(|c| c.is_whitespace() && c != ' ') {
            Cow::Owned(result)
        } else if result == input {
            Cow::Borrowed(input)
        } else {
            Cow::Owned(result)
        }
    }

    fn name(&self) -> &'static str {
        "compressWhitespace"
    }
}

/// Remove whitespace transformation.
pub struct RemoveWhitespace;

impl Transformation for RemoveWhitespace {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let result: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if result == input {
            Cow::Borrowed(input)
        } else {
            Cow::Owned(result)
        }
    }

    fn name(&self) -> &'static str {
        "removeWhitespace"
    }
}

/// Remove null bytes transformation.
pub struct RemoveNulls;

impl Transformation for RemoveNulls {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if !input.contains('\0') {
            return Cow::Borrowed(input);
        }
        Cow::Owned(input.replace('\0', ""))
    }

    fn name(&self) -> &'static str {
        "removeNulls"
    }
}

/// Replace null bytes with spaces transformation.
pub struct ReplaceNulls;

impl Transformation for ReplaceNulls {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if !input.contains('\0') {
            return Cow::Borrowed(input);
        }
        Cow::Owned(input.replace('\0', " "))
    }

    fn name(&self) -> &'static str {
        "replaceNulls"
    }
}

/// What C's `isspace` is in the "C" locale, which libmodsecurity's trims use: Rust's own
/// `trim` would also take Unicode spaces (a no-break space before `select`, say).
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// `input` borrowed when trimming left it whole.
fn trimmed<'a>(input: &'a str, trimmed: &'a str) -> Cow<'a, str> {
    match trimmed.len() == input.len() {
        true => Cow::Borrowed(input),
        false => Cow::Owned(trimmed.to_string()),
    }
}

/// Trim transformation.
pub struct Trim;

impl Transformation for Trim {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        trimmed(input, input.trim_matches(is_c_space))
    }

    fn name(&self) -> &'static str {
        "trim"
    }
}

/// Trim left transformation.
pub struct TrimLeft;

impl Transformation for TrimLeft {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        trimmed(input, input.trim_start_matches(is_c_space))
    }

    fn name(&self) -> &'static str {
        "trimLeft"
    }
}

/// Trim right transformation.
pub struct TrimRight;

impl Transformation for TrimRight {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        trimmed(input, input.trim_end_matches(is_c_space))
    }

    fn name(&self) -> &'static str {
        "trimRight"
    }
}

/// `t:normalizePath`, as libmodsecurity's `normalize_path_inplace`: runs of slashes become
/// one, `./` segments go, `x/..` goes with its segment — but a relative path keeps the `..`
/// that climb above its start (`../../etc/passwd` stays so), an absolute one stops at the
/// root (`/../etc` is `/etc`), and a trailing slash stays only where there was one.
/// Backslashes are not separators here (`t:normalizePathWin`'s are).
pub struct NormalizePath;

impl Transformation for NormalizePath {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        normalize_path(input, false)
    }

    fn name(&self) -> &'static str {
        "normalizePath"
    }
}

/// `t:normalizePathWin`: backslashes become slashes as the path is read, then it is
/// normalised as by `t:normalizePath`.
pub struct NormalizePathWin;

impl Transformation for NormalizePathWin {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        normalize_path(input, true)
    }

    fn name(&self) -> &'static str {
        "normalizePathWin"
    }
}

/// libmodsecurity's path normaliser, step for step (`src` reads, `dst` writes, in place),
/// so that a rule sees the path ModSecurity's does. Only ASCII bytes (`/`, `.`, `\\`) are
/// moved or dropped, and segments are cut at slashes, so the result stays UTF-8.
fn normalize_path(input: &str, win: bool) -> Cow<'_, str> {
    if input.is_empty() {
        return Cow::Borrowed(input);
    }
    let is_slash = |b: u8| b == b'/' || (win && b == b'\\');
    let mut buf = input.as_bytes().to_vec();
    let end = buf.len() - 1;
    let relative = !is_slash(buf[0]);
    let trailing = is_slash(buf[end]);
    let (mut src, mut dst) = (0usize, 0usize);
    let (mut hit_root, mut done) = (false, false);

    while !done && src <= end && dst <= end {
        if win {
            if buf[src] == b'\\' {
                buf[src] = b'/';
            }
            if src < end && buf[src + 1] == b'\\' {
                buf[src + 1] = b'/';
            }
        }
        // A segment is judged at its last byte (before a slash, or at the end).
        let at_segment_end = if src == end {
            done = true;
            true
        } else {
            buf[src + 1] == b'/'
        };
        let mut copy = true;
        if at_segment_end && !(src != end && buf[src] == b'/') {
            if buf[src] == b'.' {
                if dst > 0 && buf[dst - 1] == b'.' {
                    // `..`: in a relative path that has climbed to its start, kept.
                    if !(relative && (hit_root || dst <= 2)) {
                        // Remove it and the segment before it, not above the root.
                        let mut d = dst as isize - 3;
                        while d > 0 && buf[d as usize] != b'/' {
                            d -= 1;
                        }
                        if d <= 0 {
                            hit_root = true;
                            d = if !relative && src == end { 1 } else { 0 };
                        }
                        dst = d as usize;
                        copy = !done;
                        if !done {
                            src += 1;
                        }
                    } else {
                        hit_root = true;
                    }
                } else if dst == 0 {
                    // `./` at the start of a relative path.
                    copy = !done;
                    if !done {
                        src += 1;
                    }
                } else if buf[dst - 1] == b'/' {
                    // `/./`.
                    copy = !done;
                    if !done {
                        dst -= 1;
                        src += 1;
                    }
                }
            } else if dst > 0 {
                hit_root = false;
            }
        }
        if !copy {
            continue;
        }
        if buf[src] == b'/' {
            // Only the last of a run of slashes is copied.
            while src < end && is_slash(buf[src + 1]) {
                src += 1;
            }
            // A relative path does not begin with the slash a `./` or `../` left.
            if relative && dst == 0 {
                src += 1;
                continue;
            }
        }
        buf[dst] = buf[src];
        dst += 1;
        src += 1;
    }
    if !trailing && dst > 0 && buf[dst - 1] == b'/' {
        dst -= 1;
    }
    buf.truncate(dst);
    if buf == input.as_bytes() {
        return Cow::Borrowed(input);
    }
    Cow::Owned(String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// `t:utf8toUnicode`: each character beyond ASCII written as a `%uXXXX` escape (lowercase
/// hex), as ModSecurity does, for the `t:urlDecodeUni` that follows it in CRS's rules to map
/// to its ASCII best fit (`＜` → `%uff1c` → `<`). A character beyond U+FFFF, which four hex
/// digits cannot hold, stays as it is.
pub struct Utf8ToUnicode;

impl Transformation for Utf8ToUnicode {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if input.is_ascii() {
            return Cow::Borrowed(input);
        }
        use std::fmt::Write;
        let mut out = String::with_capacity(input.len() * 2);
        for c in input.chars() {
            match u32::from(c) {
                0..=0x7f | 0x1_0000.. => out.push(c),
                code => {
                    let _ = write!(out, "%u{code:04x}");
                }
            }
        }
        Cow::Owned(out)
    }

    fn name(&self) -> &'static str {
        "utf8ToUnicode"
    }
}

/// Command line normalization transformation.
pub struct CmdLine;

impl Transformation for CmdLine {
    /// Normalise a Windows/Unix command line the way ModSecurity does.
    ///
    /// The steps, and the order, are ModSecurity's:
    ///
    /// 1. delete backslashes, double quotes, single quotes and carets, which
    ///    a shell treats as noise but which break naive pattern matching;
    /// 2. turn commas, semicolons and any run of whitespace into a single
    ///    space;
    /// 3. delete a space that immediately precedes `/` or `(`;
    /// 4. lowercase everything else.
    ///
    /// Step 3 is the one that matters most and was previously missing: CRS
    /// regexes are written against the collapsed form. Rule 932140 looks for
    /// `in\(`, with no space, so `for %v in (set) do cmd` only matches once
    /// `in (set)` has become `in(set)`.
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut result = String::with_capacity(input.len());
        // Whether the last character written was a space we introduced, and so
        // may still be removed by a following `/` or `(`.
        let mut pending_space = false;

        for c in input.chars() {
            match c {
                // Deleted outright.
                '\\' | '"' | '\'' | '^' => {}
                // Separators and whitespace collapse to one space: a shell's whitespace
                // (ModSecurity's four), not a vertical tab or a no-break space, which
                // a shell does not split on.
                ',' | ';' | ' ' | '\t' | '\r' | '\n' => {
                    if !pending_space {
                        result.push(' ');
                        pending_space = true;
                    }
                }
                // A space before either of these is dropped.
                '/' | '(' => {
                    if pending_space {
                        result.pop();
                    }
                    pending_space = false;
                    result.push(c);
                }
                _ => {
                    pending_space = false;
                    // `std::tolower` in the C locale, as libmodsecurity's cmdLine.
                    result.push(c.to_ascii_lowercase());
                }
            }
        }

        if result == input {
            Cow::Borrowed(input)
        } else {
            Cow::Owned(result)
        }
    }

    fn name(&self) -> &'static str {
        "cmdLine"
    }
}

/// SHA-256 hash transformation.
pub struct Sha256;

impl Transformation for Sha256 {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        use sha2::{Digest, Sha256 as Sha256Hasher};
        let mut hasher = Sha256Hasher::new();
        hasher.update(input.as_bytes());
        let result = hasher.finalize();
        Cow::Owned(hex::encode(result))
    }

    fn name(&self) -> &'static str {
        "sha256"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transformations::UrlDecodeUni;

    #[test]
    fn case_changes_borrow_what_they_leave_alone() {
        assert!(matches!(Lowercase.transform("select * from"), Cow::Borrowed(_)));
        assert_eq!(Lowercase.transform("SeLeCt"), "select");
        // ASCII letters only, as libmodsecurity's `std::tolower` in the C locale: the Kelvin
        // sign K (U+212A) does not become `k`, nor `À` `à`.
        assert_eq!(Lowercase.transform("ÀB\u{212A}ILL"), "Àb\u{212A}ill");
        assert!(matches!(Lowercase.transform("à\u{212A}"), Cow::Borrowed(_)));
        assert!(matches!(Uppercase.transform("SELECT"), Cow::Borrowed(_)));
        assert_eq!(Uppercase.transform("àb"), "àB");
    }

    #[test]
    fn utf8_to_unicode_escapes_what_is_beyond_ascii() {
        assert!(matches!(Utf8ToUnicode.transform("plain"), Cow::Borrowed(_)));
        assert_eq!(Utf8ToUnicode.transform("a＜é東🍕"), "a%uff1c%u00e9%u6771🍕");
        // Then t:urlDecodeUni, as CRS's XSS rules chain them: the best fits become ASCII.
        let chained = UrlDecodeUni.transform(&Utf8ToUnicode.transform("＜script＞ «x» it’s 東京")).into_owned();
        assert_eq!(chained, "<script> <x> it's 東京");
    }

    #[test]
    fn trims_take_c_spaces_only_as_libmodsecurity_does() {
        assert_eq!(Trim.transform(" \t\x0b x y\r\n\x0c"), "x y");
        assert_eq!(TrimLeft.transform("\n x "), "x ");
        assert_eq!(TrimRight.transform(" x \n"), " x");
        // A no-break space is not C's whitespace: it stays, for the rules to see.
        assert_eq!(Trim.transform("\u{a0}select"), "\u{a0}select");
        assert!(matches!(Trim.transform("whole"), Cow::Borrowed(_)));
    }

    #[test]
    fn test_lowercase() {
        let t = Lowercase;
        assert_eq!(t.transform("Hello World"), "hello world");
        assert_eq!(t.transform("already lower"), "already lower");
    }

    #[test]
    fn test_compress_whitespace() {
        let t = CompressWhitespace;
        assert_eq!(t.transform("hello   world"), "hello world");
        assert_eq!(t.transform("a\t\nb"), "a b");
    }

    #[test]
    fn test_remove_whitespace() {
        let t = RemoveWhitespace;
        assert_eq!(t.transform("hello world"), "helloworld");
    }

    #[test]
    fn test_normalize_path() {
        let t = NormalizePath;
        assert_eq!(t.transform("/a/b/../c"), "/a/c");
        assert_eq!(t.transform("/a//b/./c"), "/a/b/c");
        assert_eq!(t.transform("a\\b\\c"), "a\\b\\c", "a backslash is no separator here");
    }

    #[test]
    fn normalize_path_is_libmodsecurity_s() {
        for (path, want) in [
            ("", ""),
            ("x", "x"),
            (".", ""),
            ("./", ""),
            ("./..", ".."),
            ("./../", "../"),
            ("..", ".."),
            ("../", "../"),
            ("../..", "../.."),
            ("../../", "../../"),
            ("../../etc/passwd", "../../etc/passwd"),
            ("/dir/foo//bar", "/dir/foo/bar"),
            ("dir/foo//bar/", "dir/foo/bar/"),
            ("dir/../foo", "foo"),
            ("dir/../../foo", "../foo"),
            ("dir/./.././../../foo/bar", "../../foo/bar"),
            ("dir/./.././../../foo/bar/..", "../../foo"),
            ("dir//.//..//.//..//..//foo//bar//", "../../foo/bar/"),
            ("dir/subdir/subsubdir/subsubsubdir/../../..", "dir"),
            ("/dir/./subdir/../subsubdir/../subsubsubdir/../", "/dir/"),
            ("/./.././../../../../../../../etc/../etc/./passwd", "/etc/passwd"),
        ] {
            assert_eq!(NormalizePath.transform(path), want, "{path}");
        }
    }

    #[test]
    fn test_cmdline() {
        let t = CmdLine;
        // Caret is the Windows escape character - it is simply removed.
        assert_eq!(t.transform("echo^hello"), "echohello");
        // Backslashes and quotes are deleted, not replaced.
        assert_eq!(t.transform(r"c:\\windows\\system32"), "c:windowssystem32");
        assert_eq!(t.transform("\"cat\" '/etc/passwd'"), "cat/etc/passwd");
        // Commas and semicolons become a space; runs collapse to one.
        assert_eq!(t.transform("DIR,,,X"), "dir x");
        assert_eq!(t.transform("a \t\n b"), "a b");
        assert_eq!(t.transform("a\x0bb\u{a0}c"), "a\x0bb\u{a0}c", "not a shell's whitespace");
        // A space before `/` or `(` is deleted -- this is what CRS regexes are
        // written against, e.g. 932140 matching `in\(`.
        assert_eq!(t.transform("CMD;/C"), "cmd/c");
        assert_eq!(t.transform("CMD,/C;DIR"), "cmd/c dir");
        assert_eq!(t.transform("for %v in (set) do cmd"), "for %v in(set) do cmd");
        assert_eq!(t.transform("cat /etc/passwd"), "cat/etc/passwd");
        // Nothing to change: borrowed, not reallocated.
        assert!(matches!(t.transform("already normal"), Cow::Borrowed(_)));
    }
}

#[cfg(test)]
mod path_tests {
    use super::*;

    #[test]
    fn normalize_path_win_turns_backslashes_into_slashes() {
        let t = NormalizePathWin;
        assert_eq!(t.transform(r"C:\Windows\System32\drivers\etc\hosts"), "C:/Windows/System32/drivers/etc/hosts");
        assert_eq!(t.transform("/etc/passwd"), "/etc/passwd");
        assert_eq!(t.transform(r"a\\b\.\c"), "a/b/c");
    }
}
