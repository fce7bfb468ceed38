//! The `multipart/form-data` body processor, with ModSecurity's checks: a body its parser
//! and the application's could read differently is the classic way past a WAF (data
//! after the final boundary, a line that almost is a boundary, folded or half-quoted part
//! headers). What ModSecurity counts as an error (no boundary, no final boundary, a part
//! without a usable `Content-Disposition`) sets `REQBODY_ERROR`; what it counts as
//! suspect sets the `MULTIPART_*` flags, and `MULTIPART_STRICT_ERROR` when any is set,
//! for ModSecurity's recommended rules 200003 and 200004 to refuse.
//!
//! The body is read as bytes (each byte one character, as Latin-1 reads it), so that a
//! file's size is its size in bytes whatever it holds, and every delimiter and trim is
//! ASCII, as ModSecurity's are; names, values and headers are then read as UTF-8.

/// The `MULTIPART_*` flags of one body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MultipartFlags {
    pub boundary_quoted: bool,
    pub boundary_whitespace: bool,
    pub data_before: bool,
    pub data_after: bool,
    pub header_folding: bool,
    pub lf_line: bool,
    pub missing_semicolon: bool,
    pub invalid_quoting: bool,
    pub invalid_part: bool,
    pub invalid_header_folding: bool,
    /// A line that starts with the delimiter but is not a boundary (`--XyZa`).
    pub unmatched_boundary: bool,
}

impl MultipartFlags {
    /// `MULTIPART_STRICT_ERROR`: any flag but a quoted boundary, which RFC 2046 allows and
    /// common clients send (.NET's `MultipartFormDataContent` quotes it); ModSecurity
    /// counts that one too, and refuses those clients.
    pub fn strict_error(&self) -> bool {
        self.boundary_whitespace
            || self.data_before
            || self.data_after
            || self.header_folding
            || self.lf_line
            || self.missing_semicolon
            || self.invalid_quoting
            || self.invalid_part
            || self.invalid_header_folding
            || self.unmatched_boundary
    }
}

/// One part: its `name`, the file name for an upload, its header lines, its content as
/// text (empty for an upload: a file is no argument), and the content's size in bytes
/// (`FILES_SIZES` for an upload).
#[derive(Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub headers: Vec<String>,
    pub content: String,
    pub size: usize,
}

/// What the processor made of a body: the parts, the flags, and the error, if any (the
/// parts read before it are kept: the rules see them too).
#[derive(Debug, Default)]
pub struct Multipart {
    pub parts: Vec<Part>,
    pub flags: MultipartFlags,
    pub error: Option<String>,
}

/// Parses `body` by the boundary `content_type` names. `None`: no usable boundary.
pub fn parse(content_type: &str, body: &[u8]) -> Option<Multipart> {
    let mut parsed = parse_bytes(content_type, body)?;
    for part in &mut parsed.parts {
        part.name = as_utf8(&part.name);
        part.filename = part.filename.as_deref().map(as_utf8);
        part.headers.iter_mut().for_each(|h| *h = as_utf8(h));
    }
    Some(parsed)
}

/// Each byte as the character of the same number (ISO 8859-1): a part's head, parsed as
/// text whose characters are its bytes.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Text whose characters are bytes (below 256) read as UTF-8, as the rules see text
/// elsewhere (a sequence that is not UTF-8 becomes U+FFFD).
fn as_utf8(bytes_as_text: &str) -> String {
    if bytes_as_text.is_ascii() {
        return bytes_as_text.to_string();
    }
    let bytes: Vec<u8> = bytes_as_text.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `bytes` without the bytes of `set` at its end.
fn trim_end<'a>(mut bytes: &'a [u8], set: &[u8]) -> &'a [u8] {
    while let [rest @ .., last] = bytes {
        if !set.contains(last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// What comes before and after the first `separator` in `bytes`.
fn split_once<'a>(bytes: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = bytes.windows(separator.len()).position(|w| w == separator)?;
    Some((&bytes[..at], &bytes[at + separator.len()..]))
}

/// [`parse`]'s work, on the body's bytes: a photo's megabytes are neither copied nor
/// made text.
fn parse_bytes(content_type: &str, body: &[u8]) -> Option<Multipart> {
    let mut out = Multipart::default();
    let boundary = boundary(content_type, &mut out.flags)?;
    let delimiter = format!("--{boundary}");
    let mut part_start: Option<usize> = None;
    let mut finished = false;
    let mut offset = 0;
    while offset < body.len() {
        let line_end = body[offset..].iter().position(|&b| b == b'\n').map_or(body.len(), |i| offset + i + 1);
        let line = trim_end(&body[offset..line_end], b"\n\r");
        let bare_lf = body[..line_end].ends_with(b"\n") && !body[..line_end].ends_with(b"\r\n");
        if finished {
            out.flags.data_after |= !line.trim_ascii().is_empty();
        } else if let Some(rest) = line.strip_prefix(delimiter.as_bytes()) {
            let rest = trim_end(rest, b" \t");
            if rest.is_empty() || rest == b"--" {
                out.flags.lf_line |= bare_lf;
                match part_start {
                    Some(start) => {
                        let content = strip_line_break(&body[start..offset], &mut out.flags);
                        if let Err(why) = read_part(content, &mut out) {
                            out.error.get_or_insert(why);
                        }
                    }
                    None => out.flags.data_before |= !body[..offset].trim_ascii().is_empty(),
                }
                finished = rest == b"--";
                part_start = (!finished).then_some(line_end);
            } else {
                out.flags.unmatched_boundary = true;
            }
        }
        offset = line_end;
    }
    if !finished {
        out.error.get_or_insert_with(|| "Multipart: final boundary missing".to_string());
    }
    Some(out)
}

/// The boundary parameter: one, not empty, without whitespace around it.
fn boundary(content_type: &str, flags: &mut MultipartFlags) -> Option<String> {
    let mut found = None;
    for param in content_type.split(';').skip(1) {
        let Some((key, value)) = param.split_once('=') else { continue };
        if !key.trim().eq_ignore_ascii_case("boundary") {
            continue;
        }
        if found.is_some() {
            return None; // two boundaries: which one the application takes is anyone's guess
        }
        flags.boundary_whitespace |= key.ends_with([' ', '\t']) || value.starts_with([' ', '\t']);
        let value = value.trim();
        let unquoted = value.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
        flags.boundary_quoted |= unquoted.is_some();
        found = Some(unquoted.unwrap_or(value).to_string());
    }
    found.filter(|b| !b.is_empty() && !b.contains([' ', '\t', '"']))
}

/// The line break before a boundary belongs to the boundary, not to the content.
fn strip_line_break<'a>(content: &'a [u8], flags: &mut MultipartFlags) -> &'a [u8] {
    if let Some(stripped) = content.strip_suffix(b"\r\n") {
        return stripped;
    }
    let stripped = content.strip_suffix(b"\n");
    flags.lf_line |= stripped.is_some();
    stripped.unwrap_or(content)
}

/// One part's headers and content; an error for a part the rules cannot address.
fn read_part(text: &[u8], out: &mut Multipart) -> Result<(), String> {
    let (head, content) = match split_once(text, b"\r\n\r\n") {
        Some(split) => split,
        None => match split_once(text, b"\n\n") {
            Some(split) => {
                out.flags.lf_line = true;
                split
            }
            None => {
                out.flags.invalid_part = true;
                return Err("Multipart: part without headers".to_string());
            }
        },
    };
    let head = latin1(head);
    let mut headers: Vec<String> = Vec::new();
    let lines: Vec<&str> = head.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        // Every header line but the last ended at a `\n` that split it off.
        out.flags.lf_line |= i + 1 < lines.len() && !line.ends_with('\r');
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            out.flags.header_folding = true;
            match headers.last_mut() {
                Some(previous) => previous.push_str(line.trim_ascii_start()),
                None => out.flags.invalid_header_folding = true,
            }
        } else if !line.is_empty() {
            out.flags.invalid_part |= !line.contains(':');
            headers.push(line.to_string());
        }
    }
    let disposition = headers
        .iter()
        .find_map(|h| h.split_once(':').filter(|(k, _)| k.trim_ascii().eq_ignore_ascii_case("content-disposition")))
        .map(|(_, v)| v.trim_ascii().to_string())
        .ok_or("Multipart: part missing Content-Disposition header")?;
    let (name, filename) = disposition_names(&disposition, &mut out.flags)?;
    let size = content.len();
    // A file's content is no argument: not copied (megabytes for a photo).
    let content = match filename {
        Some(_) => String::new(),
        None => String::from_utf8_lossy(content).into_owned(),
    };
    out.parts.push(Part { name, filename, headers, content, size });
    Ok(())
}

/// `form-data; name="a"; filename="b"`: the name and file name, checked as ModSecurity
/// checks them (parameters separated by `;`, quotes closed, neither given twice, a name
/// that is not empty). Parameter names are matched ignoring case and other parameters are
/// allowed, as RFC 2183 has them (ModSecurity refuses both).
fn disposition_names(value: &str, flags: &mut MultipartFlags) -> Result<(String, Option<String>), String> {
    let invalid = |why: &str| Err(format!("Multipart: invalid Content-Disposition header ({why})"));
    let Some(mut rest) = value.get(..9).filter(|kind| kind.eq_ignore_ascii_case("form-data")).map(|_| &value[9..])
    else {
        return invalid("not form-data");
    };
    let (mut name, mut filename, mut filename_given) = (None, None, false);
    loop {
        rest = rest.trim_ascii_start();
        if rest.is_empty() {
            break;
        }
        let Some(after) = rest.strip_prefix(';') else {
            flags.missing_semicolon = true;
            return invalid("a parameter without its semicolon");
        };
        if after.trim_ascii().is_empty() {
            break; // a semicolon at the end
        }
        let Some((key, after)) = after.split_once('=') else {
            flags.invalid_quoting = true;
            return invalid("a parameter without a value");
        };
        let after = after.trim_ascii_start();
        let (param, remainder, quoted) = match after.strip_prefix('"') {
            Some(quoted) => match quoted_value(quoted) {
                Some((param, remainder)) => (param, remainder, true),
                None => {
                    flags.invalid_quoting = true;
                    return invalid("an unclosed quote");
                }
            },
            None => {
                let end = after.find(';').unwrap_or(after.len());
                let token = after[..end].trim_ascii_end();
                if token.contains(['"', ' ']) {
                    flags.invalid_quoting = true;
                    return invalid("a quote inside an unquoted value");
                }
                (token.to_string(), &after[end..], false)
            }
        };
        let key = key.trim_ascii().to_ascii_lowercase();
        // Some parsers (PHP's) read '…' as a quoted value, so an unquoted name or file name
        // with a single quote (`name='x; filename=y'`) may not be what the application
        // sees: ModSecurity's invalid-quoting flag, and an error when the value opens with one.
        if !quoted && matches!(key.as_str(), "name" | "filename") && param.contains('\'') {
            flags.invalid_quoting = true;
            if param.starts_with('\'') {
                return invalid("a value in single quotes");
            }
        }
        match key.as_str() {
            // Given twice, the application and the WAF may each take a different one.
            "name" if name.is_some() => return invalid("the name given twice"),
            "filename" if filename_given => return invalid("the file name given twice"),
            "name" => name = Some(param),
            "filename" => {
                filename_given = true;
                filename = Some(param);
            }
            // RFC 5987's form (`UTF-8''shell.php`): the name after the charset.
            "filename*" => filename = Some(param.rsplit("''").next().unwrap_or_default().to_string()),
            _ => {}
        }
        rest = remainder;
    }
    match name {
        Some(name) if !name.is_empty() => Ok((name, filename)),
        _ => invalid("no name"),
    }
}

/// A quoted parameter's value and what follows its closing quote, as ModSecurity reads it:
/// `\"` and `\\` stand for `"` and `\` (curl and older clients escape a file name's quotes
/// so), any other backslash stays (Windows paths come unescaped: `C:\Users\ann\a.txt`).
/// `None`: the quote is never closed.
fn quoted_value(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match text[i + 1..].chars().next() {
                Some(escaped @ ('"' | '\\')) => {
                    value.push(escaped);
                    chars.next();
                }
                Some(_) => value.push('\\'),
                None => return None,
            },
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn part(name: &str, content: &str) -> String {
        format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{content}\r\n")
    }

    #[test]
    fn quoted_names_read_backslash_escapes_as_modsecurity_does() {
        let mut flags = MultipartFlags::default();
        assert_eq!(disposition_names(r#"form-data; name="a\"b""#, &mut flags).unwrap().0, r#"a"b"#);
        assert_eq!(
            disposition_names(r#"form-data; name="f"; filename="C:\Users\ann\a.txt""#, &mut flags).unwrap().1.unwrap(),
            r"C:\Users\ann\a.txt"
        );
        assert_eq!(
            disposition_names(r#"form-data; name="f"; filename="a\\b""#, &mut flags).unwrap().1.unwrap(),
            r"a\b"
        );
        assert!(!flags.strict_error());
        assert!(disposition_names(r#"form-data; name="abc\""#, &mut flags).is_err());
        assert!(flags.invalid_quoting);
    }

    #[test]
    fn parameters_given_twice_single_quotes_and_empty_names_are_refused_as_modsecurity_does() {
        let mut flags = MultipartFlags::default();
        assert!(disposition_names(r#"form-data; name="a"; name="b""#, &mut flags).is_err());
        assert!(disposition_names(r#"form-data; name="a"; filename="x"; filename="y""#, &mut flags).is_err());
        assert!(disposition_names(r#"form-data; name="""#, &mut flags).is_err());
        assert!(!flags.strict_error());
        // A file name and its RFC 5987 form, as .NET sends them, are not the same given twice.
        let dotnet = r#"form-data; name="f"; filename="r_sum_.pdf"; filename*=utf-8''r%C3%A9sum%C3%A9.pdf"#;
        assert_eq!(disposition_names(dotnet, &mut flags).unwrap().1.unwrap(), "r%C3%A9sum%C3%A9.pdf");
        assert_eq!(disposition_names(r#"form-data; name="a";"#, &mut flags).unwrap().0, "a");
        assert!(!flags.strict_error(), "neither is an evasion");
        assert_eq!(disposition_names("form-data; name=a'b", &mut flags).unwrap().0, "a'b");
        assert!(flags.invalid_quoting);
        assert!(disposition_names("form-data; name='x; filename=y'", &mut MultipartFlags::default()).is_err());
    }

    #[test]
    fn a_well_formed_body_has_its_parts_and_no_flag() {
        let body = format!("{}{}--XyZ--\r\n", part("a", "one\r\ntwo"), part("b", ""));
        let parsed = parse(CT, body.as_bytes()).unwrap();
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.flags, MultipartFlags::default());
        assert_eq!(
            parsed.parts.iter().map(|p| (&*p.name, &*p.content)).collect::<Vec<_>>(),
            [("a", "one\r\ntwo"), ("b", "")]
        );
    }

    #[test]
    fn uploads_keep_their_file_names_and_headers() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a b.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--XyZ\r\nContent-Disposition: form-data; name=g; filename*=UTF-8''shell.php\r\n\r\nx\r\n--XyZ--";
        let parsed = parse(CT, body.as_bytes()).unwrap();
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.parts[0].filename.as_deref(), Some("a b.pdf"));
        let shouted = "--XyZ\r\nContent-Disposition: FORM-DATA; name=\"a\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert_eq!(parse(CT, shouted.as_bytes()).unwrap().error, None, "the type is case-insensitive");
        assert_eq!(parsed.parts[0].headers[1], "Content-Type: application/pdf");
        assert_eq!(parsed.parts[1].filename.as_deref(), Some("shell.php"));
    }

    #[test]
    fn what_an_application_may_read_differently_is_flagged() {
        let flags = |body: &str| parse(CT, body.as_bytes()).unwrap().flags;
        let end = "--XyZ--\r\n";
        assert!(flags(&format!("junk\r\n{}{end}", part("a", "x"))).data_before);
        assert!(flags(&format!("{}{end}' or 1=1--", part("a", "x"))).data_after);
        assert!(flags(&format!("{}--XyZa\r\n{end}", part("a", "x"))).unmatched_boundary);
        assert!(flags("--XyZ\nContent-Disposition: form-data; name=\"a\"\n\nx\n--XyZ--\n").lf_line);
        let folded = "--XyZ\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert!(flags(folded).header_folding);
        assert!(flags(&format!("{}{end}", part("a", "x"))) == MultipartFlags::default());
        assert!(!flags(&format!("{}{end}\r\n", part("a", "x"))).data_after, "a trailing line break is not data");
    }

    #[test]
    fn a_part_the_rules_cannot_address_is_an_error() {
        let error = |body: &str| parse(CT, body.as_bytes()).unwrap().error;
        assert!(error(&part("a", "x")).unwrap().contains("final boundary missing"));
        assert!(error("--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--\r\n")
            .unwrap()
            .contains("Content-Disposition"));
        let missing_semicolon = "--XyZ\r\nContent-Disposition: form-data name=\"a\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert!(parse(CT, missing_semicolon.as_bytes()).unwrap().flags.missing_semicolon);
        let unclosed = "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--\r\n";
        let parsed = parse(CT, unclosed.as_bytes()).unwrap();
        assert!(parsed.flags.invalid_quoting && parsed.error.is_some());
    }

    #[test]
    fn sizes_are_bytes_and_text_is_utf8() {
        let mut body =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"caf\xc3\xa9\"; filename=\"\xc3\xa0.bin\"\r\n\r\n"
                .to_vec();
        body.extend_from_slice(&[0xff, 0x00, 0xc3, 0xa0, 0x85, b'\r', b'\n']);
        body.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nna\xc3\xafve \xc2\xa0\r\n--XyZ--\r\n",
        );
        let parsed = parse(CT, &body).unwrap();
        assert_eq!(parsed.error, None);
        let (file, text) = (&parsed.parts[0], &parsed.parts[1]);
        assert_eq!((file.name.as_str(), file.filename.as_deref()), ("café", Some("à.bin")));
        assert_eq!(file.size, 5, "five bytes, one of them not UTF-8");
        assert_eq!(file.content, "", "a file's content is no argument, and is not kept as text");
        assert_eq!(text.content, "naïve \u{a0}", "a no-break space is not trimmed: only ASCII is");
        assert_eq!(text.size, 9);
    }

    #[test]
    fn the_boundary_is_one_parameter_and_a_quoted_one_is_no_strict_error() {
        let mut flags = MultipartFlags::default();
        assert_eq!(boundary("multipart/form-data; boundary=\"XyZ\"", &mut flags).as_deref(), Some("XyZ"));
        assert!(flags.boundary_quoted && !flags.strict_error());
        assert!(boundary("multipart/form-data; boundary=a; boundary=b", &mut flags).is_none());
        assert!(boundary("multipart/form-data", &mut flags).is_none());
        let mut spaced = MultipartFlags::default();
        assert_eq!(boundary("multipart/form-data; boundary= XyZ", &mut spaced).as_deref(), Some("XyZ"));
        assert!(spaced.boundary_whitespace && spaced.strict_error());
    }
}
