//! Comment transformations, as libmodsecurity's: `t:replaceComments` (CRS's SQL, PHP and
//! generic rules), `t:removeCommentsChar` (CRS 942... once) and `t:removeComments`. The
//! markers are ASCII, so reading the value as characters finds what reading its bytes does.

use super::Transformation;
use std::borrow::Cow;

/// `t:replaceComments`: each C-style comment (`/* … */`) becomes one space; an unterminated
/// one runs to the end of the value and becomes one space there (`1/*` → `1 `), as
/// libmodsecurity writes it. A lone `*/` is left.
pub struct ReplaceComments;

impl Transformation for ReplaceComments {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if !input.contains("/*") {
            return Cow::Borrowed(input);
        }
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        while let Some(start) = rest.find("/*") {
            out.push_str(&rest[..start]);
            out.push(' ');
            match rest[start + 2..].find("*/") {
                Some(end) => rest = &rest[start + 2 + end + 2..],
                None => return Cow::Owned(out),
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    fn name(&self) -> &'static str {
        "replaceComments"
    }
}

/// `t:removeCommentsChar`: the comment markers themselves deleted, what they enclose kept —
/// `/*`, `*/`, `<!--`, `-->`, `--` and `#`, looked for in that order at each position, in
/// one pass (the text around a deleted marker is not re-read as a new one: `-/*-` → `--`).
pub struct RemoveCommentsChar;

/// The markers, longest first where one begins another (`-->` before `--`).
const COMMENT_MARKERS: [&str; 6] = ["/*", "*/", "<!--", "-->", "--", "#"];

impl Transformation for RemoveCommentsChar {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        if !COMMENT_MARKERS.iter().any(|marker| input.contains(marker)) {
            return Cow::Borrowed(input);
        }
        let mut out = String::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            let rest = &input[i..];
            match COMMENT_MARKERS.iter().find(|marker| rest.starts_with(*marker)) {
                Some(marker) => i += marker.len(),
                None => {
                    let c = rest.chars().next().expect("within the value");
                    out.push(c);
                    i += c.len_utf8();
                }
            }
        }
        Cow::Owned(out)
    }

    fn name(&self) -> &'static str {
        "removeCommentsChar"
    }
}

/// `t:removeComments`: C-style (`/* … */`) and HTML (`<!-- … -->`) comments removed with
/// what they enclose; `--` or `#` outside one ends the value there (an SQL line comment);
/// an unterminated comment becomes one space at the end, as libmodsecurity writes it. (Its
/// quirk of copying the character after a closing marker unread is not kept: that
/// character is read as any other. CRS does not use this transformation.)
pub struct RemoveComments;

impl Transformation for RemoveComments {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        let mut changed = false;
        while let Some(c) = rest.chars().next() {
            let (close, open_len) = if rest.starts_with("/*") {
                ("*/", 2)
            } else if rest.starts_with("<!--") {
                ("-->", 4)
            } else if rest.starts_with("--") || c == '#' {
                changed = true;
                break;
            } else {
                out.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            };
            changed = true;
            match rest[open_len..].find(close) {
                Some(end) => rest = &rest[open_len + end + close.len()..],
                None => {
                    out.push(' ');
                    break;
                }
            }
        }
        if changed {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(input)
        }
    }

    fn name(&self) -> &'static str {
        "removeComments"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_comments_leaves_one_space_for_each_even_an_unterminated_one() {
        assert_eq!(ReplaceComments.transform("1/**/union/*x*/select"), "1 union select");
        assert_eq!(ReplaceComments.transform("1 or/* to the end"), "1 or ");
        assert_eq!(ReplaceComments.transform("a */ b"), "a */ b");
        assert_eq!(ReplaceComments.transform("/*/x"), " ", "the opener's star does not close it");
        assert!(matches!(ReplaceComments.transform("plain -- # text"), Cow::Borrowed(_)));
    }

    #[test]
    fn remove_comments_char_deletes_the_markers_in_one_pass() {
        assert_eq!(RemoveCommentsChar.transform("1/*x*/union--y#z"), "1xunionyz");
        assert_eq!(RemoveCommentsChar.transform("<!--a-->b"), "ab");
        assert_eq!(RemoveCommentsChar.transform("-/*-"), "--", "what a deletion joins is not read again");
        assert_eq!(RemoveCommentsChar.transform("é#ü"), "éü");
        assert!(matches!(RemoveCommentsChar.transform("a-b/c*d"), Cow::Borrowed(_)));
    }

    #[test]
    fn remove_comments_removes_what_they_enclose_and_ends_at_a_line_comment() {
        assert_eq!(RemoveComments.transform("1/*x*/union<!--y-->select"), "1unionselect");
        assert_eq!(RemoveComments.transform("1 or 1=1-- rest"), "1 or 1=1");
        assert_eq!(RemoveComments.transform("1 or 1=1# rest"), "1 or 1=1");
        assert_eq!(RemoveComments.transform("a /* open"), "a  ");
        assert!(matches!(RemoveComments.transform("a - b * c"), Cow::Borrowed(_)));
    }
}
