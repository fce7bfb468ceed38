//! The XML request body processor: element text and attributes flattened into arguments.
//!
//! ModSecurity exposes XML through an XPath-selected `XML:` variable. That needs an XPath
//! engine, which this does not have — so instead each text node and attribute becomes an
//! argument named by its element path, prefixed `xml.`:
//!
//! ```text
//! <order><item id="7">widget</item></order>
//!   -> xml.order.item      = widget
//!      xml.order.item.@id  = 7
//! ```
//!
//! That is not ModSecurity-compatible naming, and rules written against `XML:/order/item`
//! will not match it. It is chosen because the alternative was leaving XML bodies
//! uninspected entirely: with this, `SecRule ARGS "@detectSQLi"` covers XML payloads the
//! same way it covers form and JSON ones, which is what the common rulesets actually do.
//! Entities are read as libxml2 reads them (`xml_dtd.rs`). The whole document's text is
//! also available as `REQUEST_BODY`.

use super::collection::HashMapCollection;
use super::xml_dtd::{Dtd, Expansion};
use quick_xml::events::{BytesStart, Event};

/// Most arguments extracted from a single XML body.
const MAX_XML_ARGS: usize = 4096;

/// Deepest element nesting the XML processor will descend.
///
/// quick-xml is a pull parser and does not recurse, so this bounds work and
/// argument-name length rather than stack depth.
const MAX_XML_DEPTH: usize = 64;

/// Flattens `body` into `args`. `Err` is why the body could not be processed (not
/// well-formed, truncated, past a bound, an external entity): the caller reports it as
/// `REQBODY_ERROR`, which CRS's rule 200002 refuses. What was extracted before the error
/// stays in `args`.
pub fn flatten(body: &[u8], args: &mut HashMapCollection) -> Result<(), String> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(());
    }

    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().check_end_names = true;

    let mut out = Extracted { args, count: 0 };
    let mut path: Vec<String> = Vec::new();
    // Text arrives in fragments, split around entity references. Buffering
    // per element and flushing on the closing tag keeps a value whole: a
    // payload written as `UNION&#32;SELECT` would otherwise be split into
    // pieces small enough for every rule to miss.
    let mut text: Vec<String> = Vec::new();
    let mut unresolved_entity: Option<String> = None;
    // The entities the document type declaration gives (none until one is read).
    let mut dtd = Dtd::default();
    // A document is one element (libxml2: "Start tag expected", "Extra content at the end").
    let mut root_seen = false;
    let mut buf = Vec::new();

    loop {
        match reader.read_event_into(&mut buf) {
            Ok(ref event @ (Event::Start(ref e) | Event::Empty(ref e))) => {
                if path.len() >= MAX_XML_DEPTH {
                    return Err(format!(
                        "XML body exceeded {MAX_XML_DEPTH} levels of nesting; \
                         only part of the body was inspected"
                    ));
                }
                if path.is_empty() && root_seen {
                    return Err("XML body has content after its root element: not well-formed".to_string());
                }
                root_seen = true;
                path.push(decode_name(e.name().as_ref()));
                attributes(e, &reader, &mut dtd, &path, &mut out, &mut unresolved_entity)?;
                // `<a/>` has no end tag to close it: it holds no text, and closes here.
                if matches!(event, Event::Empty(_)) {
                    path.pop();
                } else {
                    text.push(String::new());
                }
            }
            Ok(Event::End(_)) => {
                if let Some(collected) = text.pop() {
                    let trimmed = collected.trim();
                    if !trimmed.is_empty() && !path.is_empty() {
                        out.push(format!("xml.{}", path.join(".")), trimmed.to_string())?;
                    }
                }
                path.pop();
            }
            Ok(Event::Text(e)) if path.is_empty() => {
                if e.iter().any(|b| !b.is_ascii_whitespace()) {
                    return Err("XML body has text outside its root element: not well-formed".to_string());
                }
            }
            Ok(Event::CData(_) | Event::GeneralRef(_)) if path.is_empty() => {
                return Err("XML body has text outside its root element: not well-formed".to_string());
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
                        return Err(format!("XML body's entity '&{name};' expands past the bounds (entity expansion)"));
                    }
                }
            }
            Ok(Event::DocType(e)) => match Dtd::parse(&String::from_utf8_lossy(&e)) {
                Ok(declared) => dtd = declared,
                Err(name) => {
                    return Err(format!(
                        "XML body declares the external entity '{name}' (XXE: a parser that \
                         honours the DTD fetches it); refused"
                    ));
                }
            },
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("XML parsing error: {e}")),
        }
        buf.clear();
    }

    // Elements left open at end of input mean the document was cut short.
    // quick-xml reports EOF rather than an error for this, so a truncated
    // body would otherwise look like a complete one that simply had less
    // in it.
    if !root_seen {
        return Err("XML body has no root element: not well-formed".to_string());
    }
    if !path.is_empty() {
        return Err(format!(
            "XML body ended with {} element(s) still open; the document is truncated \
             and was only partly inspected",
            path.len()
        ));
    }
    if let Some(what) = unresolved_entity {
        return Err(format!(
            "XML body references {what}, which neither it nor an external DTD declares: \
             not well-formed"
        ));
    }
    Ok(())
}

/// The attributes of the element `path` ends in, each an argument `xml.PATH.@NAME`.
fn attributes(
    element: &BytesStart<'_>,
    reader: &quick_xml::Reader<&[u8]>,
    dtd: &mut Dtd,
    path: &[String],
    out: &mut Extracted<'_>,
    unresolved_entity: &mut Option<String>,
) -> Result<(), String> {
    for attr in element.attributes() {
        // Unquoted, valueless or repeated: libxml2 stops there, and so does this.
        let attr = attr.map_err(|e| format!("XML body has a malformed attribute ({e}): not well-formed"))?;
        let attr_name = decode_name(attr.key.as_ref());
        // A namespace declaration names a schema by its URI: not data the
        // client chose, and `xmlns`/`xhtml` are words CRS's 941130 looks
        // for (every SOAP envelope was an XSS).
        if attr_name == "xmlns" || attr_name.starts_with("xmlns:") {
            continue;
        }
        let value = match attr.decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, reader.decoder()) {
            Ok(value) => value.into_owned(),
            // A custom entity: expanded as in text (`xml_dtd.rs`).
            Err(_) => match dtd.expand_text(&String::from_utf8_lossy(&attr.value)) {
                Ok(value) => value,
                Err(Expansion::TooLarge) => {
                    return Err(format!("XML body's attribute {attr_name} expands past the bounds"));
                }
                Err(_) => {
                    unresolved_entity.get_or_insert(format!("an entity in the attribute {attr_name}"));
                    String::new()
                }
            },
        };
        out.push(format!("xml.{}.@{}", path.join("."), attr_name), value)?;
    }
    Ok(())
}

/// The arguments extracted so far, within `MAX_XML_ARGS`.
struct Extracted<'a> {
    args: &'a mut HashMapCollection,
    count: usize,
}

impl Extracted<'_> {
    /// Records one value; past the cap, the reason the body was only partly inspected.
    fn push(&mut self, name: String, value: String) -> Result<(), String> {
        if self.count >= MAX_XML_ARGS {
            return Err(format!(
                "XML body exceeded {MAX_XML_ARGS} extracted values; only part of the \
                 body was inspected"
            ));
        }
        self.count += 1;
        self.args.add(name, value);
        Ok(())
    }
}

/// Element and attribute names are ASCII in practice; lossy decoding avoids
/// rejecting a document over a malformed name when the payload is elsewhere.
fn decode_name(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::Collection;

    fn parse(body: &str) -> (Result<(), String>, HashMapCollection) {
        let mut args = HashMapCollection::new();
        (flatten(body.as_bytes(), &mut args), args)
    }

    #[test]
    fn xml_empty_elements_close_themselves_and_namespaces_are_not_arguments() {
        let (ok, args) = parse(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><link href="/a"/><q xmlns="urn:x">1' or 1=1</q></s:Body></s:Envelope>"#,
        );
        assert_eq!(ok, Ok(()), "a self-closing element leaves nothing open");
        assert_eq!(args.get("xml.s:Envelope.s:Body.link.@href"), Some(vec!["/a"]));
        assert_eq!(args.get("xml.s:Envelope.s:Body.q"), Some(vec!["1' or 1=1"]));
        assert!(args.all().iter().all(|(name, _)| !name.contains("xmlns")), "no namespace declarations");
    }

    #[test]
    fn xml_entities_read_as_libxml2_reads_them() {
        // An internal entity is expanded, so what it hides is inspected.
        let (ok, args) =
            parse("<?xml version=\"1.0\"?><!DOCTYPE n [<!ENTITY q \"1' union select password from users\">]><n><q>&q;</q></n>");
        assert_eq!(ok, Ok(()));
        assert_eq!(args.get("xml.n.q"), Some(vec!["1' union select password from users"]));
        // In an attribute too.
        let (ok, args) = parse("<!DOCTYPE a [<!ENTITY js \"javascript:alert(1)\">]><a href=\"&js;\">x</a>");
        assert_eq!(ok, Ok(()));
        assert_eq!(args.get("xml.a.@href"), Some(vec!["javascript:alert(1)"]));
        // XHTML's entities come from its external DTD, which is not loaded: nothing.
        let (ok, args) =
            parse("<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"x.dtd\"><html><p>a&nbsp;b</p></html>");
        assert_eq!(ok, Ok(()));
        assert_eq!(args.get("xml.html.p"), Some(vec!["ab"]));
        // Declared nowhere: not well-formed. Predefined ones and character references
        // need no declaration.
        assert!(parse("<n>a&nbsp;b</n>").0.unwrap_err().contains("&nbsp;"));
        let (ok, args) = parse("<n>caf&#233; &amp; cr&#xE8;me</n>");
        assert_eq!(ok, Ok(()));
        assert_eq!(args.get("xml.n"), Some(vec!["café & crème"]));
        // Billion laughs: past the bounds.
        let mut laughs = String::from("<!DOCTYPE l [<!ENTITY a \"lollollollollollollollollollol\">");
        for (name, inner) in [("b", "a"), ("c", "b"), ("d", "c"), ("e", "d"), ("f", "e"), ("g", "f")] {
            laughs.push_str(&format!("<!ENTITY {name} \"{}\">", format!("&{inner};").repeat(10)));
        }
        laughs.push_str("]><l>&g;</l>");
        assert!(parse(&laughs).0.unwrap_err().contains("&g;"));
    }

    #[test]
    fn bounds_and_truncation_are_errors() {
        let deep = format!("{}{}", "<a>".repeat(MAX_XML_DEPTH + 1), "</a>".repeat(MAX_XML_DEPTH + 1));
        assert!(parse(&deep).0.unwrap_err().contains("levels of nesting"));
        let many = format!("<r>{}</r>", "<v>x</v>".repeat(MAX_XML_ARGS + 1));
        let (refused, args) = parse(&many);
        assert!(refused.unwrap_err().contains("extracted values"));
        assert_eq!(args.get("xml.r.v").map(|v| v.len()), Some(MAX_XML_ARGS), "what was read stays");
        assert!(parse("<a><b>cut").0.unwrap_err().contains("still open"));
        assert_eq!(parse(" \n").0, Ok(()), "an empty body is not an error");
    }

    #[test]
    fn a_document_is_one_element_with_quoted_attributes() {
        for (body, why) in [
            ("count(/child::node())", "text outside"),
            ("x' or name()='username'", "text outside"),
            ("<!-- only a comment -->", "no root element"),
            ("<![CDATA[<script>]]>", "text outside"),
            ("<a>1</a><b>2</b>", "after its root"),
            ("<a>1</a>tail", "text outside"),
            ("<a id=1>x</a>", "malformed attribute"),
            ("<a b=\"1\" b=\"2\">x</a>", "malformed attribute"),
        ] {
            let refused = parse(body).0.unwrap_err();
            assert!(refused.contains(why), "{body}: {refused}");
        }
        let (ok, _) = parse("<?xml version=\"1.0\"?>\n<!-- c --><a>1</a>\n<?pi x?>\n");
        assert_eq!(ok, Ok(()), "a declaration, comments, instructions and whitespace around it");
    }
}
