//! The path a request is classified by: routes, the challenge's exempt paths, limits keyed
//! by path. Backends read `/public/../admin`, `/%61dmin` and `//admin` as `/admin`; were
//! routes matched on the path as sent, each would reach `/admin` past the rules of its
//! route (an IP list, a challenge, a limit). So, as nginx matches its locations: escapes of
//! visible ASCII are decoded (but `%25`, so that the result is read one way), `//` is one
//! `/`, and `.` and `..` segments are resolved (RFC 3986 §5.2.4); a `..` that climbs above
//! the root has no meaning, and the request is refused (400, as nginx does). So is a dot
//! segment with parameters (`/public/..;/admin`): Tomcat and Jetty drop a segment's
//! `;parameters` and read `/admin`, other servers a name `..;` under `/public` — there is
//! no one reading to route by, and no browser or client library sends one (nginx and
//! HAProxy route it under `/public`, the path-confusion bypass of Tomcat backends). The
//! same for a dot segment between backslashes (`/public\..\admin`), which IIS reads as
//! `/admin` and Unix servers as one name. The target itself goes on as it came: the WAF
//! judges it, the upstream resolves it as it does.
use std::borrow::Cow;

/// `path` normalized; `None` when a `..` climbs above the root or a dot segment is
/// `ambiguous`. Borrowed, without work past one scan, when there is nothing to do (the
/// common request).
pub fn normalized(path: &str) -> Option<Cow<'_, str>> {
    if !path.starts_with('/') || !needs_work(path.as_bytes()) {
        return Some(Cow::Borrowed(path));
    }
    let decoded = decode_visible(path);
    let mut segments: Vec<&str> = Vec::new();
    // Whether the result ends in `/`: the last segment was empty, `.` or `..`.
    let mut open_end = false;
    for segment in decoded[1..].split('/') {
        open_end = matches!(segment, "" | "." | "..");
        if ambiguous(segment) {
            return None;
        }
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            name => segments.push(name),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if open_end || segments.is_empty() {
        out.push('/');
    }
    Some(Cow::Owned(out))
}

/// Whether a segment is a dot segment to some servers and a name to others: `..;x`
/// (Tomcat and Jetty drop `;parameters`), `..\admin` (IIS reads `\` as `/`).
fn ambiguous(segment: &str) -> bool {
    matches!(segment.split_once(';'), Some((".." | ".", _)))
        || (segment.contains('\\') && segment.split('\\').any(|piece| matches!(piece, ".." | ".")))
}

/// Whether `path` holds an escape, `//` or a segment (or a piece between backslashes)
/// that begins with `.`: one scan.
fn needs_work(path: &[u8]) -> bool {
    let mut previous = 0;
    for &b in path {
        if b == b'%' || (matches!(previous, b'/' | b'\\') && (b == b'/' || b == b'.')) {
            return true;
        }
        previous = b;
    }
    false
}

/// `path` with each `%XX` of a visible ASCII character but `%` decoded, and the other
/// escapes (controls, space, `%`, bytes past ASCII) written in capitals.
fn decode_visible(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(&[hi, lo])) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(b) if b.is_ascii_graphic() && b != b'%' => out.push(char::from(b)),
            Some(_) => out.push_str(&path[i..i + 3].to_ascii_uppercase()),
            None => {
                // One whole character: the path is text, and may hold UTF-8 (HTTP/2).
                let len = path[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&path[i..i + len]);
                i += len;
                continue;
            }
        }
        i += 3;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str) -> Option<String> {
        normalized(path).map(Cow::into_owned)
    }

    #[test]
    fn ordinary_paths_are_borrowed_as_they_are() {
        for path in ["/", "/api/users", "/a.b/c..d/e.", "/api/v1/", "*"] {
            assert!(matches!(normalized(path), Some(Cow::Borrowed(p)) if p == path), "{path}");
        }
    }

    #[test]
    fn the_ways_to_spell_admin_are_one() {
        for path in [
            "/admin",
            "/public/../admin",
            "/%61dmin",
            "//admin",
            "/public/%2e%2e/admin",
            "/public%2F..%2Fadmin",
            "/./admin",
            "/x/y/../../admin",
            "/public/.%2E/admin",
        ] {
            assert_eq!(norm(path).as_deref(), Some("/admin"), "{path}");
        }
    }

    #[test]
    fn trailing_slashes_and_dot_segments_at_the_end() {
        assert_eq!(norm("/a/b/").as_deref(), Some("/a/b/"));
        assert_eq!(norm("/a/b/.").as_deref(), Some("/a/b/"));
        assert_eq!(norm("/a/b/..").as_deref(), Some("/a/"));
        assert_eq!(norm("/a/..").as_deref(), Some("/"));
        assert_eq!(norm("//").as_deref(), Some("/"));
        assert_eq!(norm("/.well-known/acme-challenge/t").as_deref(), Some("/.well-known/acme-challenge/t"));
        assert_eq!(norm("/.well-known/../admin").as_deref(), Some("/admin"));
    }

    #[test]
    fn climbing_above_the_root_has_no_meaning() {
        for path in ["/..", "/../admin", "/a/../../admin", "/%2e%2e/admin"] {
            assert_eq!(norm(path), None, "{path}");
        }
    }

    #[test]
    fn dot_segments_with_parameters_or_backslashes_have_no_one_reading() {
        for path in ["/public/..;/admin", "/public/..;jsessionid=1/admin", "/a/.;/b", "/public/%2e%2e%3b/admin"] {
            assert_eq!(norm(path), None, "{path}");
        }
        for path in ["/public\\..\\admin", "/public/..\\admin", "/public%5C..%5Cadmin", "/a\\.\\b"] {
            assert_eq!(norm(path), None, "{path}");
        }
        assert_eq!(norm("/a\\b/c").as_deref(), Some("/a\\b/c"), "a backslash is a character");
        assert_eq!(norm("/a/b\\..c").as_deref(), Some("/a/b\\..c"));
        assert_eq!(norm("/a;v=1/../b;x").as_deref(), Some("/b;x"), "parameters of other segments are names");
        assert_eq!(norm("/a/...;x/b").as_deref(), Some("/a/...;x/b"));
    }

    #[test]
    fn escapes_that_would_change_the_reading_stay_escaped_in_capitals() {
        assert_eq!(norm("/a%25%32%65/x").as_deref(), Some("/a%252e/x"), "%25 is not decoded, so %252e stays");
        assert_eq!(norm("/a%20b%2fc").as_deref(), Some("/a%20b/c"));
        assert_eq!(norm("/caf%c3%a9/%00").as_deref(), Some("/caf%C3%A9/%00"));
        assert_eq!(norm("/100%/x%4").as_deref(), Some("/100%/x%4"), "a broken escape is a character");
        assert_eq!(norm("/東京/%41").as_deref(), Some("/東京/A"));
    }
}
