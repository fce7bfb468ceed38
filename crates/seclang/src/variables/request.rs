//! Request data for variable resolution.

use super::collection::{Collection, HashMapCollection};
use super::json::JsonNode;
use std::borrow::Cow;

/// Request data container.
#[derive(Debug, Clone, Default)]
pub struct RequestData {
    /// HTTP method.
    pub method: String,
    /// Request URI (with query string).
    pub uri: String,
    /// Raw URI.
    pub uri_raw: String,
    /// Request path (without query string).
    pub path: String,
    /// Query string.
    pub query_string: String,
    /// HTTP protocol version.
    pub protocol: String,
    /// Request headers.
    pub headers: HashMapCollection,
    /// GET arguments.
    pub args_get: HashMapCollection,
    /// POST arguments.
    pub args_post: HashMapCollection,
    /// Cookies.
    pub cookies: HashMapCollection,
    /// Multipart part headers (key = part name, value = full header line),
    /// populated by the multipart body processor. Mirrors ModSecurity's
    /// `MULTIPART_PART_HEADERS` collection.
    pub multipart_part_headers: HashMapCollection,
    /// What the multipart processor found suspect (`MULTIPART_*`).
    pub multipart_flags: super::multipart::MultipartFlags,
    /// Uploaded files (key = part name, value = client-supplied filename),
    /// populated by the multipart body processor. Backs `FILES`/`FILES_NAMES`.
    pub files: HashMapCollection,
    /// Each upload's size in bytes, by part name (`FILES_SIZES`; their sum is
    /// `FILES_COMBINED_SIZE`).
    pub files_sizes: HashMapCollection,
    /// Name of the body processor that handled the request body
    /// (`MULTIPART`, `URLENCODED`, `JSON`, or empty when none ran). Backs
    /// `REQBODY_PROCESSOR`.
    pub body_processor: String,
    /// Why the body processor could not process the body, if it failed.
    ///
    /// Backs `REQBODY_ERROR` (1 when set, 0 otherwise) and
    /// `REQBODY_ERROR_MSG`. CRS rule 200002 blocks on this, which only works
    /// if a failed parse is observable: a strict parser rejecting a payload
    /// that the origin application happily accepts is a bypass when it
    /// happens quietly.
    pub body_error: Option<String>,
    /// Request body: shares the buffer it was handed (`set_body`), never a copy of it.
    pub body: bytes::Bytes,
    /// Client IP address.
    pub client_ip: String,
    /// Client port.
    pub client_port: u16,
    /// Server name.
    pub server_name: String,
    /// Local address the connection was accepted on. Backs `SERVER_ADDR`.
    pub server_addr: String,
    /// Server port.
    pub server_port: u16,
    /// The transaction's id (`UNIQUE_ID`): the caller's request id where it gave one, else
    /// a number unique in the process, made the first time a rule reads it.
    pub unique_id: std::cell::OnceCell<String>,
    /// When the transaction began (`DURATION` counts from here).
    pub started: Option<std::time::Instant>,
}

impl RequestData {
    /// Create new request data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the request target as libmodsecurity 3 does: `REQUEST_URI` and
    /// `REQUEST_FILENAME` (and so `REQUEST_BASENAME`) percent-decoded,
    /// `REQUEST_URI_RAW` and `QUERY_STRING` as received. The path is split from the
    /// query *before* it is decoded (libmodsecurity 3.0.12, CVE-2024-1019): 3.0.9
    /// decoded first, so `/a%3F<payload>` ended the path at the decoded `?` and the
    /// payload was in no variable the path rules read.
    pub fn set_uri(&mut self, uri: &str) {
        self.uri = percent_decode_lossy(uri);
        self.uri_raw = uri.to_string();

        if let Some(pos) = uri.find('?') {
            self.path = percent_decode_lossy(&uri[..pos]);
            self.query_string = uri[pos + 1..].to_string();
            self.parse_query_string(&self.query_string.clone());
        } else {
            self.path = percent_decode_lossy(uri);
            self.query_string.clear();
        }
    }

    /// Set the HTTP method.
    pub fn set_method(&mut self, method: &str) {
        self.method = method.to_string();
    }

    /// Set the protocol.
    pub fn set_protocol(&mut self, protocol: &str) {
        self.protocol = protocol.to_string();
    }

    /// Add a request header.
    pub fn add_header(&mut self, name: &str, value: &str) {
        let lower = name.to_lowercase();
        if lower == "cookie" {
            self.parse_cookie_header(value);
        }
        self.headers.add(lower, value.to_string());
    }

    /// Parse a `Cookie` request header into the cookies collection.
    fn parse_cookie_header(&mut self, value: &str) {
        for pair in value.split(';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            match pair.split_once('=') {
                Some((k, v)) => self.cookies.add(k.trim().to_string(), v.trim().to_string()),
                None => self.cookies.add(pair.to_string(), String::new()),
            }
        }
    }

    /// Append to request body.
    pub fn append_body(&mut self, data: &[u8]) {
        let mut joined = Vec::with_capacity(self.body.len() + data.len());
        joined.extend_from_slice(&self.body);
        joined.extend_from_slice(data);
        self.body = joined.into();
    }

    /// The whole request body, as read: the buffer is shared, not copied.
    pub fn set_body(&mut self, body: bytes::Bytes) {
        self.body = body;
    }

    /// Get body as string.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    /// Get body length.
    pub fn body_length(&self) -> usize {
        self.body.len()
    }

    /// Parse query string into args_get.
    fn parse_query_string(&mut self, qs: &str) {
        for pair in qs.split('&') {
            if let Some(pos) = pair.find('=') {
                let key = &pair[..pos];
                let value = &pair[pos + 1..];
                // URL decode
                let key = form_decode(key);
                let value = form_decode(value);
                self.args_get.add(key, value);
            } else if !pair.is_empty() {
                let key = form_decode(pair);
                self.args_get.add(key, String::new());
            }
        }
    }

    /// Run the multipart body processor (`multipart.rs`): ARGS_POST, FILES,
    /// MULTIPART_PART_HEADERS, the `MULTIPART_*` flags, and REQBODY_ERROR for a body it
    /// could not read whole. `false` (and REQBODY_ERROR): the Content-Type names no
    /// usable boundary.
    pub fn parse_multipart_body(&mut self, content_type: &str) -> bool {
        let Some(parsed) = super::multipart::parse(content_type, &self.body) else {
            // None, or two (which one the application takes is anyone's guess).
            self.body_error.get_or_insert_with(|| "Multipart: no usable boundary in Content-Type".to_string());
            return false;
        };
        for part in parsed.parts {
            for line in part.headers {
                self.multipart_part_headers.add(part.name.clone(), line);
            }
            match part.filename {
                Some(file) => {
                    self.files_sizes.add(part.name.clone(), part.size.to_string());
                    self.files.add(part.name, file);
                }
                None => self.args_post.add(part.name, part.content),
            }
        }
        self.multipart_flags = parsed.flags;
        if let Some(error) = parsed.error {
            self.body_error.get_or_insert(error);
        }
        self.body_processor = "MULTIPART".to_string();
        true
    }

    /// Parse form body into args_post.
    pub fn parse_form_body(&mut self) {
        let body_str = self.body_str();
        for pair in body_str.split('&') {
            if let Some(pos) = pair.find('=') {
                let key = &pair[..pos];
                let value = &pair[pos + 1..];
                let key = form_decode(key);
                let value = form_decode(value);
                self.args_post.add(key, value);
            } else if !pair.is_empty() {
                // A parameter with no `=` is a name with an empty value, which
                // is how application frameworks parse it. Dropping it here was
                // a bypass: percent-encoding the `=` leaves a body with no
                // literal separator, so the whole body became invisible to
                // ARGS and ARGS_NAMES while the origin still saw a parameter.
                // The query-string parser has always handled this shape.
                self.args_post.add(form_decode(pair), String::new());
            }
        }
    }

    /// Parse a JSON body into `args_post`, mirroring ModSecurity's JSON
    /// request body processor.
    ///
    /// Every scalar in the document becomes one argument named by its path,
    /// prefixed with `json.` and joined with `.`, with array indices as path
    /// segments — the naming libmodsecurity uses, so CRS exclusions written as
    /// `ARGS:json.user.name` keep working:
    ///
    /// ```text
    /// {"user": {"name": "bob"}, "tags": ["a", "b"]}
    ///   -> json.user.name = bob
    ///      json.tags.0    = a
    ///      json.tags.1    = b
    /// ```
    ///
    /// Returns `Ok(())` on success, or the reason the body could not be
    /// processed. The caller must surface that reason rather than treating it
    /// as an empty body: a strict parser rejecting a payload that the origin
    /// application accepts is a bypass if it happens quietly.
    pub fn parse_json_body(&mut self) -> Result<(), String> {
        self.body_processor = "JSON".to_string();

        // A body that is empty or only whitespace has nothing to inspect, and
        // is not a parse failure. Clients legitimately send an empty body with
        // `Content-Type: application/json` on POST and DELETE; reporting that
        // as an error would make CRS rule 200002 block them.
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }

        let value: JsonNode = match serde_json::from_slice(&self.body) {
            Ok(v) => v,
            Err(e) => {
                let msg = format!("JSON parsing error: {e}");
                self.body_error = Some(msg.clone());
                return Err(msg);
            }
        };

        let mut count = 0usize;
        let mut path = String::from("json");
        let truncated = flatten_json(&value, &mut path, &mut self.args_post, &mut count, 0);

        if truncated {
            let msg = format!(
                "JSON body exceeded processing limits ({MAX_JSON_ARGS} arguments or \
                 {MAX_JSON_DEPTH} levels of nesting); only part of the body was inspected"
            );
            self.body_error = Some(msg.clone());
            return Err(msg);
        }

        Ok(())
    }

    /// Parse an XML body, flattening element text and attributes into
    /// `args_post`.
    ///
    /// ModSecurity exposes XML through an XPath-selected `XML:` variable. That
    /// needs an XPath engine, which this does not have — so instead each text
    /// node and attribute becomes an argument named by its element path,
    /// prefixed `xml.`:
    ///
    /// ```text
    /// <order><item id="7">widget</item></order>
    ///   -> xml.order.item      = widget
    ///      xml.order.item.@id  = 7
    /// ```
    ///
    /// That is not ModSecurity-compatible naming, and rules written against
    /// `XML:/order/item` will not match it. It is chosen because the
    /// alternative was leaving XML bodies uninspected entirely: with this,
    /// `SecRule ARGS "@detectSQLi"` covers XML payloads the same way it covers
    /// form and JSON ones, which is what the common rulesets actually do.
    ///
    /// The whole document's text is also available as `REQUEST_BODY`.
    pub fn parse_xml_body(&mut self) -> Result<(), String> {
        use super::xml_dtd::Expansion;
        use quick_xml::events::Event;

        self.body_processor = "XML".to_string();

        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(());
        }

        let mut reader = quick_xml::Reader::from_reader(&self.body[..]);
        reader.config_mut().check_end_names = true;

        let mut path: Vec<String> = Vec::new();
        // Text arrives in fragments, split around entity references. Buffering
        // per element and flushing on the closing tag keeps a value whole: a
        // payload written as `UNION&#32;SELECT` would otherwise be split into
        // pieces small enough for every rule to miss.
        let mut text: Vec<String> = Vec::new();
        let mut count = 0usize;
        let mut unresolved_entity: Option<String> = None;
        // The entities the document type declaration gives (none until one is read).
        let mut dtd = super::xml_dtd::Dtd::default();
        let mut buf = Vec::new();

        macro_rules! cap {
            ($name:expr, $value:expr) => {
                if push_xml_arg(&$name, $value, &mut self.args_post, &mut count) {
                    let msg = xml_limit_message();
                    self.body_error = Some(msg.clone());
                    return Err(msg);
                }
            };
        }

        loop {
            match reader.read_event_into(&mut buf) {
                Ok(ref event @ (Event::Start(ref e) | Event::Empty(ref e))) => {
                    let empty = matches!(event, Event::Empty(_));
                    if path.len() >= MAX_XML_DEPTH {
                        let msg = format!(
                            "XML body exceeded {MAX_XML_DEPTH} levels of nesting; \
                             only part of the body was inspected"
                        );
                        self.body_error = Some(msg.clone());
                        return Err(msg);
                    }
                    path.push(decode_name(e.name().as_ref()));

                    for attr in e.attributes().flatten() {
                        let attr_name = decode_name(attr.key.as_ref());
                        // A namespace declaration names a schema by its URI: not data the
                        // client chose, and `xmlns`/`xhtml` are words CRS's 941130 looks
                        // for (every SOAP envelope was an XSS).
                        if attr_name == "xmlns" || attr_name.starts_with("xmlns:") {
                            continue;
                        }
                        let value = match attr
                            .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, reader.decoder())
                        {
                            Ok(value) => value.into_owned(),
                            // A custom entity: expanded as in text (`xml_dtd.rs`).
                            Err(_) => match dtd.expand_text(&String::from_utf8_lossy(&attr.value)) {
                                Ok(value) => value,
                                Err(Expansion::TooLarge) => {
                                    let msg = format!("XML body's attribute {attr_name} expands past the bounds");
                                    self.body_error = Some(msg.clone());
                                    return Err(msg);
                                }
                                Err(_) => {
                                    unresolved_entity.get_or_insert(format!("an entity in the attribute {attr_name}"));
                                    String::new()
                                }
                            },
                        };
                        let name = format!("xml.{}.@{}", path.join("."), attr_name);
                        cap!(name, value);
                    }
                    // `<a/>` has no end tag to close it: it holds no text, and closes here.
                    if empty {
                        path.pop();
                    } else {
                        text.push(String::new());
                    }
                }
                Ok(Event::End(_)) => {
                    if let Some(collected) = text.pop() {
                        let trimmed = collected.trim();
                        if !trimmed.is_empty() && !path.is_empty() {
                            let name = format!("xml.{}", path.join("."));
                            cap!(name, trimmed.to_string());
                        }
                    }
                    path.pop();
                }
                Ok(Event::Text(e)) => {
                    if let (Some(current), Ok(t)) = (text.last_mut(), e.decode()) {
                        current.push_str(t.as_ref());
                    }
                }
                Ok(Event::CData(e)) => {
                    // CDATA is text that is deliberately not markup, and a
                    // classic place to hide a payload.
                    if let Some(current) = text.last_mut() {
                        current.push_str(&String::from_utf8_lossy(e.as_ref()));
                    }
                }
                Ok(Event::GeneralRef(e)) => {
                    // What libxml2 reads it as (`xml_dtd.rs`): an internal entity expanded
                    // within bounds, one an external DTD may declare as nothing.
                    let name = e.decode().map(|n| n.into_owned()).unwrap_or_default();
                    match dtd.expand(&name) {
                        Expansion::Text(expanded) => {
                            if let Some(current) = text.last_mut() {
                                current.push_str(&expanded);
                            }
                        }
                        Expansion::Undeclared => {
                            unresolved_entity.get_or_insert(format!("the entity '&{name};'"));
                        }
                        Expansion::TooLarge => {
                            let msg =
                                format!("XML body's entity '&{name};' expands past the bounds (entity expansion)");
                            self.body_error = Some(msg.clone());
                            return Err(msg);
                        }
                    }
                }
                Ok(Event::DocType(e)) => match super::xml_dtd::Dtd::parse(&String::from_utf8_lossy(&e)) {
                    Ok(declared) => dtd = declared,
                    Err(name) => {
                        let msg = format!(
                            "XML body declares the external entity '{name}' (XXE: a parser that \
                             honours the DTD fetches it); refused"
                        );
                        self.body_error = Some(msg.clone());
                        return Err(msg);
                    }
                },
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => {
                    let msg = format!("XML parsing error: {e}");
                    self.body_error = Some(msg.clone());
                    return Err(msg);
                }
            }
            buf.clear();
        }

        // Elements left open at end of input mean the document was cut short.
        // quick-xml reports EOF rather than an error for this, so a truncated
        // body would otherwise look like a complete one that simply had less
        // in it.
        if !path.is_empty() {
            let msg = format!(
                "XML body ended with {} element(s) still open; the document is truncated \
                 and was only partly inspected",
                path.len()
            );
            self.body_error = Some(msg.clone());
            return Err(msg);
        }

        if let Some(what) = unresolved_entity {
            let msg = format!(
                "XML body references {what}, which neither it nor an external DTD declares: \
                 not well-formed"
            );
            self.body_error = Some(msg.clone());
            return Err(msg);
        }

        Ok(())
    }

    /// Get all arguments (GET + POST combined).
    pub fn all_args(&self) -> Vec<(&str, &str)> {
        let mut all = self.args_get.all();
        all.extend(self.args_post.all());
        all
    }
}

/// Most arguments extracted from a single XML body.
const MAX_XML_ARGS: usize = 4096;

/// Deepest element nesting the XML processor will descend.
///
/// quick-xml is a pull parser and does not recurse, so this bounds work and
/// argument-name length rather than stack depth.
const MAX_XML_DEPTH: usize = 64;

fn xml_limit_message() -> String {
    format!(
        "XML body exceeded {MAX_XML_ARGS} extracted values; only part of the \
         body was inspected"
    )
}

/// Element and attribute names are ASCII in practice; lossy decoding avoids
/// rejecting a document over a malformed name when the payload is elsewhere.
fn decode_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).to_string()
}

/// Decode one component of `application/x-www-form-urlencoded` input.
///
/// In that encoding `+` denotes a space -- it is what a browser emits for a
/// space in a submitted form -- so decoding only percent-escapes leaves the
/// argument holding a literal `+` where the origin application will see a
/// space. Any rule matching a payload that contains whitespace then misses,
/// which is a bypass rather than a coverage gap: the same request reaches the
/// application as spaces either way.
///
/// The `+` substitution happens *before* percent-decoding, so a plus that was
/// genuinely sent as `%2B` survives as a plus instead of becoming a space.
fn form_decode(component: &str) -> String {
    let plus_decoded: Cow<'_, str> = if component.as_bytes().contains(&b'+') {
        Cow::Owned(component.replace('+', " "))
    } else {
        Cow::Borrowed(component)
    };
    // Borrowed when there was nothing to decode: one copy per argument, not two.
    let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode_str(&plus_decoded).into();
    super::overlong::decode_lossy(&bytes).into_owned()
}

/// Record one extracted XML value. Returns `true` once the cap is hit.
fn push_xml_arg(name: &str, value: String, args: &mut HashMapCollection, count: &mut usize) -> bool {
    if *count >= MAX_XML_ARGS {
        return true;
    }
    *count += 1;
    args.add(name.to_string(), value);
    false
}

/// Most arguments extracted from a single JSON body.
///
/// A hostile body can be small on the wire and still expand into an enormous
/// number of arguments — `[[[...]]]` or a long array of scalars — each of
/// which would then be run through every rule's operator. The cap bounds that
/// work; exceeding it is reported as a body-processor error rather than
/// silently truncating, since a partially inspected body is not a safe body.
const MAX_JSON_ARGS: usize = 4096;

/// Deepest JSON nesting the flattener will descend.
///
/// `serde_json` already refuses to *parse* beyond its own recursion limit;
/// this bounds the separate recursion done here.
const MAX_JSON_DEPTH: usize = 64;

/// Flatten a JSON value into `args`, naming each scalar by its path.
///
/// `path` is the prefix built so far and is restored before returning, so one
/// buffer is reused for the whole document. Returns `true` if a limit was hit
/// and the result is therefore incomplete.
fn flatten_json(
    value: &JsonNode,
    path: &mut String,
    args: &mut HashMapCollection,
    count: &mut usize,
    depth: usize,
) -> bool {
    if depth > MAX_JSON_DEPTH {
        return true;
    }

    match value {
        JsonNode::Object(entries) => {
            // Duplicate keys produce repeated entries under the same argument
            // name, so every value a client sent is inspected. Keeping only
            // one would let a parser differential hide a payload.
            for (key, child) in entries {
                let restore = path.len();
                path.push('.');
                path.push_str(key);
                let truncated = flatten_json(child, path, args, count, depth + 1);
                path.truncate(restore);
                if truncated {
                    return true;
                }
            }
            false
        }
        JsonNode::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let restore = path.len();
                path.push('.');
                path.push_str(&index.to_string());
                let truncated = flatten_json(child, path, args, count, depth + 1);
                path.truncate(restore);
                if truncated {
                    return true;
                }
            }
            false
        }
        // Scalars are the leaves that become arguments. `null` contributes an
        // empty value rather than being skipped, so a rule testing for the
        // presence of a key still sees it.
        JsonNode::String(s) => push_json_arg(path, s.clone(), args, count),
        JsonNode::Number(n) => push_json_arg(path, n.clone(), args, count),
        JsonNode::Bool(b) => push_json_arg(path, b.to_string(), args, count),
        JsonNode::Null => push_json_arg(path, String::new(), args, count),
    }
}

/// Record one flattened scalar. Returns `true` once the argument cap is hit.
fn push_json_arg(path: &str, value: String, args: &mut HashMapCollection, count: &mut usize) -> bool {
    if *count >= MAX_JSON_ARGS {
        return true;
    }
    *count += 1;
    args.add(path.to_string(), value);
    false
}

/// `%XX` sequences decoded (nothing else: `+` stays `+`, as libmodsecurity's
/// `uri_decode`); bytes that are not UTF-8 become U+FFFD.
fn percent_decode_lossy(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_cookie_header() {
        let mut req = RequestData::new();
        req.add_header("Cookie", "session=abc123; theme=dark; bare");
        assert_eq!(req.cookies.get("session"), Some(vec!["abc123"]));
        assert_eq!(req.cookies.get("theme"), Some(vec!["dark"]));
        assert_eq!(req.cookies.get("bare"), Some(vec![""]));
    }

    #[test]
    fn test_parse_multipart_body_fields_and_headers() {
        let mut req = RequestData::new();
        let body = "--XyZ\r\n\
                    Content-Disposition: form-data; name=\"field1\"\r\n\
                    \r\n\
                    value1\r\n\
                    --XyZ\r\n\
                    Content-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\
                    Content-Type: text/plain\r\n\
                    \r\n\
                    file contents\r\n\
                    --XyZ--\r\n";
        req.append_body(body.as_bytes());
        assert!(req.parse_multipart_body("multipart/form-data; boundary=XyZ"));

        // Form field lands in ARGS_POST.
        assert_eq!(req.args_post.get("field1"), Some(vec!["value1"]));
        // File part does NOT land in ARGS_POST but in FILES.
        assert_eq!(req.args_post.get("upload"), None);
        assert_eq!(req.files.get("upload"), Some(vec!["a.txt"]));

        // Every part header line is recorded under the part name.
        let field1_headers = req.multipart_part_headers.get("field1").unwrap();
        assert_eq!(field1_headers, vec!["Content-Disposition: form-data; name=\"field1\""]);
        let upload_headers = req.multipart_part_headers.get("upload").unwrap();
        assert!(upload_headers.contains(&"Content-Type: text/plain"));
        assert_eq!(req.body_processor, "MULTIPART");
    }

    #[test]
    fn test_parse_multipart_body_quoted_boundary_and_lf_only() {
        let mut req = RequestData::new();
        let body = "--b1\nContent-Disposition: form-data; name=\"k\"\n\nv\n--b1--\n";
        req.append_body(body.as_bytes());
        assert!(req.parse_multipart_body("multipart/form-data; boundary=\"b1\""));
        assert_eq!(req.args_post.get("k"), Some(vec!["v"]));
    }

    #[test]
    fn the_path_is_split_from_the_query_before_it_is_decoded() {
        let mut req = RequestData::new();
        req.set_uri("/a%3Fb/%3Cscript%3E?q=%27x%27+y");
        assert_eq!(req.path, "/a?b/<script>");
        assert_eq!(req.uri, "/a?b/<script>?q='x'+y");
        assert_eq!(req.uri_raw, "/a%3Fb/%3Cscript%3E?q=%27x%27+y");
        assert_eq!(req.query_string, "q=%27x%27+y");
        assert_eq!(req.args_get.get("q"), Some(vec!["'x' y"]));
    }

    #[test]
    fn xml_empty_elements_close_themselves_and_namespaces_are_not_arguments() {
        let mut req = RequestData::new();
        req.append_body(
            br#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><link href="/a"/><q xmlns="urn:x">1' or 1=1</q></s:Body></s:Envelope>"#,
        );
        assert_eq!(req.parse_xml_body(), Ok(()), "a self-closing element leaves nothing open");
        assert_eq!(req.args_post.get("xml.s:Envelope.s:Body.link.@href"), Some(vec!["/a"]));
        assert_eq!(req.args_post.get("xml.s:Envelope.s:Body.q"), Some(vec!["1' or 1=1"]));
        assert!(req.args_post.all().iter().all(|(name, _)| !name.contains("xmlns")), "no namespace declarations");
    }

    #[test]
    fn an_xml_body_declaring_an_external_entity_is_a_body_error() {
        let mut req = RequestData::new();
        req.append_body(b"<?xml version=\"1.0\"?>\n<!DOCTYPE foo [\n<!ENTITY % remote SYSTEM \"http://203.0.113.9/x.dtd\">\n%remote; ]>\n<xml><t>hi</t></xml>");
        assert!(req.parse_xml_body().unwrap_err().contains("'%remote'"));
        assert!(req.body_error.is_some(), "REQBODY_ERROR: 200002 refuses it");
    }

    #[test]
    fn xml_entities_read_as_libxml2_reads_them() {
        let parse = |body: &str| {
            let mut req = RequestData::new();
            req.append_body(body.as_bytes());
            (req.parse_xml_body(), req)
        };
        // An internal entity is expanded, so what it hides is inspected.
        let (ok, req) =
            parse("<?xml version=\"1.0\"?><!DOCTYPE n [<!ENTITY q \"1' union select password from users\">]><n><q>&q;</q></n>");
        assert_eq!(ok, Ok(()));
        assert_eq!(req.args_post.get("xml.n.q"), Some(vec!["1' union select password from users"]));
        // In an attribute too.
        let (ok, req) = parse("<!DOCTYPE a [<!ENTITY js \"javascript:alert(1)\">]><a href=\"&js;\">x</a>");
        assert_eq!(ok, Ok(()));
        assert_eq!(req.args_post.get("xml.a.@href"), Some(vec!["javascript:alert(1)"]));
        // XHTML's entities come from its external DTD, which is not loaded: nothing.
        let (ok, req) =
            parse("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"x.dtd\"><html><p>a&nbsp;b</p></html>");
        assert_eq!(ok, Ok(()));
        assert_eq!(req.args_post.get("xml.html.p"), Some(vec!["ab"]));
        // Declared nowhere: not well-formed. Predefined ones and character references
        // need no declaration.
        assert!(parse("<n>a&nbsp;b</n>").0.unwrap_err().contains("&nbsp;"));
        let (ok, req) = parse("<n>caf&#233; &amp; cr&#xE8;me</n>");
        assert_eq!(ok, Ok(()));
        assert_eq!(req.args_post.get("xml.n"), Some(vec!["café & crème"]));
        // Billion laughs: past the bounds.
        let mut laughs = String::from("<!DOCTYPE l [<!ENTITY a \"lollollollollollollollollollol\">");
        for (name, inner) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e"), ("g", "f")] {
            laughs.push_str(&format!("<!ENTITY {name} \"{}\">", format!("&{inner};").repeat(10)));
        }
        laughs.push_str("]><l>&g;</l>");
        let (refused, req) = parse(&laughs);
        assert!(refused.unwrap_err().contains("&g;"));
        assert!(req.body_error.is_some(), "REQBODY_ERROR: 200002 refuses it");
    }

    #[test]
    fn test_parse_multipart_body_missing_boundary() {
        let mut req = RequestData::new();
        req.append_body(b"irrelevant");
        assert!(!req.parse_multipart_body("multipart/form-data"));
        assert!(req.body_processor.is_empty());
        assert!(req.body_error.is_some(), "REQBODY_ERROR: 200002 refuses it");
    }
}
