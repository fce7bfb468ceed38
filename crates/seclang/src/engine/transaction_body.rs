//! Phase 2 of a transaction: the request body given to the processor its Content-Type
//! (or a `ctl:requestBodyProcessor`) names — multipart, XML, JSON, URL-encoded — then the
//! phase's rules. A type with no processor is REQUEST_BODY only.
use super::{Phase, Transaction};
use crate::error::Result;
use crate::variables::Collection;

/// Whether a lowercased Content-Type denotes a JSON body.
///
/// Covers the `+json` structured suffix (RFC 6839) as well as `application/json`,
/// so `application/vnd.api+json`, `application/problem+json` and friends are
/// inspected rather than silently falling through to the urlencoded parser.
fn is_json_content_type(ct_lower: &str) -> bool {
    let media_type = ct_lower.split(';').next().unwrap_or("").trim();
    media_type == "application/json" || media_type == "text/json" || media_type.ends_with("+json")
}

/// Whether a lowercased Content-Type denotes an XML body.
///
/// Covers the `+xml` structured suffix (RFC 6839), so SOAP
/// (`application/soap+xml`), Atom and friends are inspected rather than
/// falling through to a parser that finds nothing in them.
fn is_xml_content_type(ct_lower: &str) -> bool {
    let media_type = ct_lower.split(';').next().unwrap_or("").trim();
    media_type == "application/xml" || media_type == "text/xml" || media_type.ends_with("+xml")
}

/// Whether the engine has a body processor for this Content-Type (URL-encoded, multipart,
/// JSON, XML) and so turns such a body into arguments; a body of another type is
/// REQUEST_BODY only. For callers deciding what to do with a body longer than they read.
pub fn has_body_processor(content_type: &str) -> bool {
    let ct = content_type.trim_start().to_ascii_lowercase();
    ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("multipart/form-data")
        || is_json_content_type(&ct)
        || is_xml_content_type(&ct)
}

impl Transaction {
    /// Process request body (Phase 2): the body parsed (unless
    /// [`Transaction::parse_request_body`] did it already), then the phase's rules.
    pub fn process_request_body(&mut self) -> Result<()> {
        self.phase = Phase::RequestBody;
        self.parse_request_body();
        self.run_phase(Phase::RequestBody)
    }

    /// Gives the request body to its processor without running a rule, once: for a
    /// caller that checks what it made first (how much of an upload is files' content,
    /// [`Transaction::request_files_size`]). [`Transaction::process_request_body`] does it
    /// when nobody did.
    pub fn parse_request_body(&mut self) {
        if std::mem::replace(&mut self.body_parsed, true) {
            return;
        }
        let content_type = self.request.headers.get("content-type").and_then(|v| v.first().map(|s| s.to_string()));
        let ct_lower = content_type.as_deref().map(|ct| ct.trim_start().to_ascii_lowercase()).unwrap_or_default();

        // ctl:requestBodyAccess=Off, typically set in phase 1, suppresses body
        // parsing entirely. Phase 2 rules still run; they just find no ARGS_POST
        // or FILES, which is what disabling body access means.
        if !self.controls.request_body_access() {
            return;
        }

        // ctl:requestBodyProcessor overrides Content-Type sniffing. CRS relies
        // on this to force a processor when the header is absent or lying.
        if let Some(forced) = self.controls.request_body_processor() {
            match forced {
                "MULTIPART" => {
                    if !self.request.parse_multipart_body(content_type.as_deref().unwrap_or_default()) {
                        tracing::warn!(
                            "ctl:requestBodyProcessor=MULTIPART, but the body has no parseable \
                             boundary; body arguments were not extracted"
                        );
                    }
                }
                "URLENCODED" => {
                    self.request.parse_form_body();
                    self.request.body_processor = "URLENCODED".to_string();
                }
                "JSON" => self.process_json_body(),
                "XML" => self.process_xml_body(),
                // CtlDirective::parse admits no other value.
                other => debug_assert!(false, "unsupported forced body processor: {other}"),
            }
            return;
        }

        if ct_lower.starts_with("multipart/form-data") {
            // Multipart body processor: populates ARGS_POST, FILES and
            // MULTIPART_PART_HEADERS. Never fall back to the urlencoded
            // parser for multipart payloads — that would produce bogus ARGS.
            if !self.request.parse_multipart_body(content_type.as_deref().unwrap_or_default()) {
                tracing::warn!(
                    "multipart/form-data request without a parseable boundary; \
                     body arguments were not extracted"
                );
            }
        } else if is_xml_content_type(&ct_lower) {
            self.process_xml_body();
        } else if is_json_content_type(&ct_lower) {
            // JSON bodies previously fell through to the urlencoded parser,
            // which extracts nothing usable from them -- so ARGS was empty and
            // rules like CRS 942100 (`SecRule ARGS "@detectSQLi"`) had nothing
            // to inspect. An injection payload was blocked in a form body and
            // passed unexamined in a JSON body.
            self.process_json_body();
        } else if ct_lower.starts_with("application/x-www-form-urlencoded") {
            self.request.parse_form_body();
            self.request.body_processor = "URLENCODED".to_string();
        }
        // Any other type (`application/octet-stream`, `text/plain`, a serialized Java
        // object) has no body processor, as in ModSecurity: its body is REQUEST_BODY
        // only, never arguments.
    }

    /// The bytes of the parsed body that are uploaded files' content
    /// (`FILES_COMBINED_SIZE`): 0 before [`Transaction::parse_request_body`].
    pub fn request_files_size(&self) -> usize {
        self.request.files_combined_size()
    }

    /// Run the XML body processor, recording any failure.
    ///
    /// As with JSON, a failure is not fatal: phase 2 still runs so a rule
    /// testing `REQBODY_ERROR` can act on it.
    fn process_xml_body(&mut self) {
        if let Err(e) = self.request.parse_xml_body() {
            tracing::debug!(
                error = %e,
                "request body could not be processed as XML; REQBODY_ERROR is set"
            );
        }
    }

    /// Run the JSON body processor, recording any failure.
    ///
    /// A failure is deliberately not fatal: the request still goes through
    /// phase 2 so that rules testing `REQBODY_ERROR` can act on it, which is
    /// how CRS rule 200002 blocks bodies it could not parse. Dropping the
    /// request here instead would take that decision away from the ruleset.
    fn process_json_body(&mut self) {
        if let Err(e) = self.request.parse_json_body() {
            tracing::debug!(
                error = %e,
                "request body could not be processed as JSON; REQBODY_ERROR is set"
            );
        }
    }
}
