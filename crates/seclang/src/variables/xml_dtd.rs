//! What an XML body's entities stand for, as libxml2 (ModSecurity's XML parser) reads them
//! without loading anything: the five predefined entities and character references; the
//! internal entities its document type declaration declares, expanded within bounds; and
//! nothing for an entity an external DTD may declare.
//!
//! An external entity declared in the DTD — `<!ENTITY xxe SYSTEM "file:///etc/passwd">`, or
//! the out-of-band XXE `<!ENTITY % remote SYSTEM "http://…"> %remote;`, which never appears
//! in the body — is refused: a parser that honours the DTD fetches it. An external DTD
//! itself (`<!DOCTYPE html PUBLIC "…" "….dtd">`) is not an entity and is allowed; the
//! entities it may declare (`&nbsp;` in XHTML) are read as nothing, as libxml2 reads them
//! when it does not load the DTD. An internal entity is expanded as libxml2 expands it, and
//! an expansion past `EXPANSION_LIMIT` bytes or `DEPTH_LIMIT` levels (billion laughs, a
//! loop) is refused, as libxml2 refuses it.
use std::collections::HashMap;

/// Bytes all the entity references of one body may expand to.
const EXPANSION_LIMIT: usize = 1 << 20;
/// Entities within entities.
const DEPTH_LIMIT: u8 = 8;

/// The entities of one body's document type declaration.
#[derive(Debug)]
pub struct Dtd {
    /// Internal general entities: name → replacement text (references not yet expanded).
    internal: HashMap<String, String>,
    /// Whether it names an external DTD, which may declare entities not seen here.
    external_subset: bool,
    /// Bytes of expansion left for this body.
    budget: usize,
}

/// A body without a document type declaration: the predefined entities and character
/// references only.
impl Default for Dtd {
    fn default() -> Dtd {
        Dtd { internal: HashMap::new(), external_subset: false, budget: EXPANSION_LIMIT }
    }
}

/// What a reference to a general entity stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum Expansion {
    Text(String),
    /// Declared nowhere this body shows and no external DTD that could: not well-formed.
    Undeclared,
    /// Past the expansion bounds.
    TooLarge,
}

impl Dtd {
    /// The declaration `doctype` (what follows `<!DOCTYPE`); an error naming the first
    /// external entity it declares.
    pub fn parse(doctype: &str) -> Result<Dtd, String> {
        let subset_at = doctype.find('[').unwrap_or(doctype.len());
        let mut head = doctype[..subset_at].split_ascii_whitespace().skip(1);
        let external_subset = matches!(head.next(), Some("SYSTEM" | "PUBLIC"));
        let mut dtd = Dtd { external_subset, ..Dtd::default() };
        let mut rest = &doctype[subset_at..];
        while let Some(at) = rest.find("<!ENTITY") {
            let declaration = rest[at + "<!ENTITY".len()..].trim_start();
            let (parameter, declaration) = match declaration.strip_prefix('%') {
                Some(after) => (true, after.trim_start()),
                None => (false, declaration),
            };
            let name_end = declaration.find(|c: char| c.is_ascii_whitespace()).unwrap_or(declaration.len());
            let (name, after) = declaration.split_at(name_end);
            let after = after.trim_start();
            if after.starts_with("SYSTEM") || after.starts_with("PUBLIC") {
                return Err(format!("{}{name}", if parameter { "%" } else { "" }));
            }
            rest = after;
            if let Some(quote) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let value = &after[1..];
                let end = value.find(quote).unwrap_or(value.len());
                if !parameter {
                    // The first declaration of a name binds (XML 1.0 §4.2).
                    dtd.internal.entry(name.to_string()).or_insert_with(|| value[..end].to_string());
                }
                rest = &value[end..];
            }
        }
        Ok(dtd)
    }

    /// What a reference to the general entity `name` stands for here.
    pub fn expand(&mut self, name: &str) -> Expansion {
        let mut out = String::new();
        match self.expand_into(name, &mut out, 0) {
            Ok(()) => Expansion::Text(out),
            Err(why) => why,
        }
    }

    fn expand_into(&mut self, name: &str, out: &mut String, depth: u8) -> Result<(), Expansion> {
        if let Some(text) = predefined_or_character(name) {
            return self.append(out, &text);
        }
        let Some(replacement) = self.internal.get(name).cloned() else {
            return match self.external_subset {
                true => Ok(()),
                false => Err(Expansion::Undeclared),
            };
        };
        if depth >= DEPTH_LIMIT {
            return Err(Expansion::TooLarge);
        }
        self.expand_references(&replacement, out, depth + 1)
    }

    /// `raw` (an attribute's value as written) with its references expanded.
    pub fn expand_text(&mut self, raw: &str) -> Result<String, Expansion> {
        let mut out = String::new();
        self.expand_references(raw, &mut out, 0)?;
        Ok(out)
    }

    /// `text` with each `&name;` in it expanded, at nesting `depth`.
    fn expand_references(&mut self, text: &str, out: &mut String, depth: u8) -> Result<(), Expansion> {
        let mut rest = text;
        while let Some(at) = rest.find('&') {
            self.append(out, &rest[..at])?;
            let Some(end) = rest[at..].find(';') else {
                return self.append(out, &rest[at..]);
            };
            self.expand_into(&rest[at + 1..at + end], out, depth)?;
            rest = &rest[at + end + 1..];
        }
        self.append(out, rest)
    }

    fn append(&mut self, out: &mut String, text: &str) -> Result<(), Expansion> {
        self.budget = self.budget.checked_sub(text.len()).ok_or(Expansion::TooLarge)?;
        out.push_str(text);
        Ok(())
    }
}

/// The five predefined entities and character references (`&#65;`, `&#x41;`).
pub fn predefined_or_character(name: &str) -> Option<String> {
    if let Some(predefined) = quick_xml::escape::resolve_predefined_entity(name) {
        return Some(predefined.to_string());
    }
    let digits = name.strip_prefix('#')?;
    let code = match digits.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => digits.parse::<u32>().ok()?,
    };
    char::from_u32(code).map(|c| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external_entity(doctype: &str) -> Option<String> {
        Dtd::parse(doctype).err()
    }

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
        // A quoted value that spells SYSTEM is a value, not an external entity.
        assert_eq!(external_entity("n [<!ENTITY a 'SYSTEM \"x\"'>]"), None);
    }

    #[test]
    fn internal_entities_expand_and_nest() {
        let mut dtd = Dtd::parse("note [<!ENTITY co \"Example &amp; Sons\"><!ENTITY sig 'Yours, &co;&#33;'>]").unwrap();
        assert_eq!(dtd.expand("co"), Expansion::Text("Example & Sons".into()));
        assert_eq!(dtd.expand("sig"), Expansion::Text("Yours, Example & Sons!".into()));
        assert_eq!(dtd.expand("lt"), Expansion::Text("<".into()));
        assert_eq!(dtd.expand("nbsp"), Expansion::Undeclared, "no DTD could declare it");
    }

    #[test]
    fn an_attribute_value_has_its_references_expanded() {
        let mut dtd = Dtd::parse("a [<!ENTITY js \"javascript:alert(1)\">]").unwrap();
        assert_eq!(dtd.expand_text("&js;//&amp;x"), Ok("javascript:alert(1)//&x".to_string()));
        assert_eq!(dtd.expand_text("&nope;"), Err(Expansion::Undeclared));
    }

    #[test]
    fn an_external_dtd_may_declare_what_is_not_seen() {
        let mut xhtml = Dtd::parse("html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"x.dtd\"").unwrap();
        assert_eq!(xhtml.expand("nbsp"), Expansion::Text(String::new()));
        let mut both = Dtd::parse("doc SYSTEM \"doc.dtd\" [<!ENTITY me \"Ann\">]").unwrap();
        assert_eq!(both.expand("me"), Expansion::Text("Ann".into()));
    }

    #[test]
    fn billion_laughs_and_loops_are_refused() {
        let mut laughs = String::from("lolz [<!ENTITY lol \"lol\">");
        for i in 1..=9 {
            let previous = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
            laughs.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&{previous};").repeat(10)));
        }
        laughs.push(']');
        let mut dtd = Dtd::parse(&laughs).unwrap();
        assert_eq!(dtd.expand("lol9"), Expansion::TooLarge);
        let mut fine = Dtd::parse(&laughs).unwrap();
        assert!(matches!(fine.expand("lol3"), Expansion::Text(t) if t.len() == 3000));
        let mut looped = Dtd::parse("l [<!ENTITY a \"&b;\"><!ENTITY b \"&a;\">]").unwrap();
        assert_eq!(looped.expand("a"), Expansion::TooLarge);
    }
}
