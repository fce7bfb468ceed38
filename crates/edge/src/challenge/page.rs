//! What a challenged client is sent: the page (HTML, its script inline) that hands the
//! puzzle to a Web Worker and, once solved, goes to `verify`; the worker's script; and,
//! for a client without JavaScript, a meta refresh to `wait` (or a sentence saying that
//! JavaScript is needed).
use std::time::Duration;

/// Where the challenge's own endpoints live (answered by the front chain).
pub const BASE: &str = "/.forecourt/challenge/";
pub const WORKER_JS: &str = include_str!("assets/worker.js");
const PAGE: &str = include_str!("assets/page.html");

/// What a client without JavaScript gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoJs {
    /// A meta refresh after this wait earns a pass (time is the cost instead of work).
    Wait(Duration),
    /// No way in without JavaScript.
    Deny,
}

pub struct PageData<'a> {
    pub puzzle: &'a str,
    pub difficulty: u8,
    /// The path and query to go back to once through.
    pub return_to: &'a str,
    pub request_id: &'a str,
    pub no_js: NoJs,
}

/// The page for one challenged request: the template filled in one pass into one string
/// (under attack, every challenged request renders it).
pub fn render(d: &PageData<'_>) -> String {
    let mut out = String::with_capacity(PAGE.len() + 2 * (d.puzzle.len() + d.return_to.len()) + 256);
    let mut rest = PAGE;
    while let Some(at) = rest.find("{{") {
        let Some(len) = rest[at + 2..].find("}}") else { break };
        out.push_str(&rest[..at]);
        fill(&mut out, &rest[at + 2..at + 2 + len], d);
        rest = &rest[at + len + 4..];
    }
    out.push_str(rest);
    out
}

/// Writes the value of the template's placeholder `name`.
fn fill(out: &mut String, name: &str, d: &PageData<'_>) {
    use std::fmt::Write;
    match (name, d.no_js) {
        ("NOSCRIPT_HEAD", NoJs::Wait(wait)) => {
            let _ = write!(
                out,
                "<noscript><meta http-equiv=\"refresh\" content=\"{};url={BASE}wait?p=",
                wait.as_secs().max(1)
            );
            url_encode_into(out, d.puzzle);
            out.push_str("&amp;r=");
            url_encode_into(out, d.return_to);
            out.push_str("\"></noscript>");
        }
        ("NOSCRIPT_HEAD", NoJs::Deny) => {}
        ("NOSCRIPT_TEXT", NoJs::Wait(wait)) => {
            let _ = write!(
                out,
                "JavaScript is off, so this check is a wait instead: you will be taken to the page in {} seconds.",
                wait.as_secs().max(1)
            );
        }
        ("NOSCRIPT_TEXT", NoJs::Deny) => {
            out.push_str("This site needs JavaScript to let you in: turn it on and reload the page.")
        }
        ("PUZZLE", _) => html_escape_into(out, d.puzzle),
        ("DIFFICULTY", _) => {
            let _ = write!(out, "{}", d.difficulty);
        }
        ("RETURN", _) => html_escape_into(out, d.return_to),
        ("REQUEST_ID", _) => html_escape_into(out, d.request_id),
        ("BASE", _) => out.push_str(BASE),
        (other, _) => debug_assert!(false, "unknown placeholder {other}"),
    }
}

/// `encodeURIComponent`'s encoding: every byte but the unreserved ones.
#[cfg(test)]
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    url_encode_into(&mut out, text);
    out
}

fn url_encode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => {
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
}

/// `%XX` decoded (`+` is a space, as in a form); `None` for a bad escape or bad UTF-8.
pub fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn html_escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_its_puzzle_escaped_and_a_no_js_way() {
        let page = render(&PageData {
            puzzle: "AAA.BBB",
            difficulty: 16,
            return_to: "/a?b=1&c=\"><script>",
            request_id: "r1",
            no_js: NoJs::Wait(Duration::from_secs(5)),
        });
        assert!(page.contains("data-puzzle=\"AAA.BBB\"") && page.contains("data-difficulty=\"16\""));
        assert!(page.contains("data-return=\"/a?b=1&amp;c=&quot;&gt;&lt;script&gt;\""), "{page}");
        assert!(page.contains(
            "content=\"5;url=/.forecourt/challenge/wait?p=AAA.BBB&amp;r=%2Fa%3Fb%3D1%26c%3D%22%3E%3Cscript%3E\""
        ));
        assert!(!page.contains("{{"), "every placeholder filled");
        let denied =
            render(&PageData { puzzle: "p", difficulty: 1, return_to: "/", request_id: "", no_js: NoJs::Deny });
        assert!(!denied.contains("http-equiv") && denied.contains("needs JavaScript"));
        assert_eq!(url_decode(&url_encode("/a b?c=ü&d")).as_deref(), Some("/a b?c=ü&d"));
        assert_eq!(url_decode("%zz"), None);
    }
}
