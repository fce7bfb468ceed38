//! The regular-expression operator (@rx), with ModSecurity's semantics: PCRE with
//! `DOTALL` and `MULTILINE`, so `.` matches a newline and `^`/`$` match at line breaks.
//!
//! A pattern runs on Rust's `regex` (linear time, a lazy DFA) whenever that crate accepts
//! it — every pattern of CRS 4 does — on bytes and without Unicode classes, as ModSecurity
//! compiles PCRE (no `UTF` flag): `\w`, `\s`, `\d` and `(?i)` are ASCII's. That is also
//! what keeps CRS small and quick: Unicode's `\w` under `(?i)` in hundreds of alternations
//! made the compiled ruleset several times larger. The few that need what only PCRE has (look-around,
//! back-references, a `{` that is a literal brace: CRS 3.3 has about fifteen) run on PCRE2
//! itself, with its JIT, rather than being dropped: a rule that silently never matches is
//! a hole in the WAF.
//!
//! Syntax is checked when the rule is loaded (an invalid pattern is a load error); the
//! automaton is built at first use, because CRS defines hundreds and most requests
//! exercise few.
use super::traits::{Operator, OperatorResult};
use crate::error::{Error, Result};
use once_cell::sync::OnceCell;

/// The engine a pattern runs on.
enum Engine {
    Rust(regex::bytes::Regex),
    Pcre(pcre2::bytes::Regex),
}

/// Regex operator (@rx), compiled at first use.
pub struct RxOperator {
    pattern: String,
    /// PCRE2 only: Rust's `regex` does not accept the pattern.
    needs_pcre: bool,
    /// `None` once compilation has been attempted and failed (an oversized program),
    /// reported once rather than retried per request.
    compiled: OnceCell<Option<Engine>>,
}

impl RxOperator {
    /// Checks the pattern's syntax (Rust's parser, then PCRE2's) without building an
    /// automaton.
    pub fn new(pattern: &str) -> Result<Self> {
        let invalid =
            |why: String| Error::RegexCompile { pattern: pattern.to_string(), source: regex::Error::Syntax(why) };
        if pattern.is_empty() {
            return Err(invalid("empty pattern".to_string()));
        }
        let needs_pcre = regex_syntax::Parser::new().parse(pattern).is_err();
        if needs_pcre {
            // PCRE2 parses at compile time; a pattern it refuses is refused by both.
            pcre(pattern).map_err(|e| invalid(format!("neither Rust's regex nor PCRE2 accepts it: {e}")))?;
        }
        Ok(Self { pattern: pattern.to_string(), needs_pcre, compiled: OnceCell::new() })
    }

    /// Which engine runs the pattern (for `forecourt explain` and tests).
    pub fn engine_name(&self) -> &'static str {
        if self.needs_pcre {
            "pcre2"
        } else {
            "regex"
        }
    }

    fn engine(&self) -> Option<&Engine> {
        self.compiled
            .get_or_init(|| {
                let built = if self.needs_pcre {
                    pcre(&self.pattern).map(Engine::Pcre).map_err(|e| e.to_string())
                } else {
                    // ASCII classes first; a pattern that names Unicode (`\p{L}`) keeps it.
                    rust_regex(&self.pattern, false)
                        .or_else(|_| rust_regex(&self.pattern, true))
                        .map(Engine::Rust)
                        .map_err(|e| e.to_string())
                };
                built
                    .map_err(|error| {
                        tracing::error!(pattern = %self.pattern, %error,
                            "regex could not be compiled at first use; this rule can never match")
                    })
                    .ok()
            })
            .as_ref()
    }
}

fn rust_regex(pattern: &str, unicode: bool) -> std::result::Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(pattern).unicode(unicode).dot_matches_new_line(true).multi_line(true).build()
}

/// What a match covered, as text (a match may end inside a multi-byte character).
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pcre(pattern: &str) -> std::result::Result<pcre2::bytes::Regex, pcre2::Error> {
    pcre2::bytes::RegexBuilder::new().dotall(true).multi_line(true).jit_if_available(true).build(pattern)
}

impl RxOperator {
    /// The pattern searched for in `value`'s bytes.
    fn search(&self, value: &[u8]) -> OperatorResult {
        match self.engine() {
            None => OperatorResult::no_match(),
            Some(Engine::Rust(regex)) if regex.captures_len() == 1 => match regex.find(value) {
                // No groups to capture: a plain search, which skips the capture machinery.
                Some(m) => OperatorResult::matched(text(m.as_bytes())),
                None => OperatorResult::no_match(),
            },
            Some(Engine::Rust(regex)) => match regex.captures(value) {
                Some(captures) => OperatorResult {
                    matched: true,
                    matched_value: captures.get(0).map(|m| text(m.as_bytes())),
                    captures: captures.iter().skip(1).flatten().map(|m| text(m.as_bytes())).collect(),
                },
                None => OperatorResult::no_match(),
            },
            // A PCRE error (its match limit reached) counts as no match, as in ModSecurity.
            Some(Engine::Pcre(regex)) => match regex.captures(value) {
                Ok(Some(captures)) => OperatorResult {
                    matched: true,
                    matched_value: captures.get(0).map(|m| text(m.as_bytes())),
                    captures: (1..captures.len()).filter_map(|i| captures.get(i)).map(|m| text(m.as_bytes())).collect(),
                },
                _ => OperatorResult::no_match(),
            },
        }
    }
}

impl Operator for RxOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        self.search(value.as_bytes())
    }

    fn execute_bytes(&self, value: &[u8]) -> Option<OperatorResult> {
        Some(self.search(value))
    }

    fn name(&self) -> &'static str {
        "rx"
    }

    fn supports_capture(&self) -> bool {
        true
    }

    fn prepare(&self) {
        self.engine();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_patterns_run_on_rust_regex() {
        let op = RxOperator::new("^admin").unwrap();
        assert_eq!(op.engine_name(), "regex");
        assert!(op.execute("admin").matched);
        assert!(!op.execute("user").matched);
        // MULTILINE, as ModSecurity compiles: `^` after a line break.
        assert!(op.execute("user\nadmin").matched);
    }

    #[test]
    fn captures_are_the_groups() {
        let op = RxOperator::new(r"user=(\w+)").unwrap();
        let result = op.execute("user=john");
        assert!(result.matched);
        assert_eq!(result.captures, vec!["john"]);
        assert_eq!(result.matched_value.as_deref(), Some("user=john"));
    }

    #[test]
    fn pcre_only_patterns_fall_back_to_pcre2() {
        // CRS 3.3's 953120 (look-ahead) and 932170 (a literal `{`).
        let look_ahead = RxOperator::new(r"<\?(?!xml)").unwrap();
        assert_eq!(look_ahead.engine_name(), "pcre2");
        assert!(look_ahead.execute("<?php echo 1").matched);
        assert!(!look_ahead.execute("<?xml version").matched);
        let brace = RxOperator::new(r"^\(\s*\)\s+{").unwrap();
        assert!(brace.execute("() { :; }; echo").matched);
        let back_ref = RxOperator::new(r"(\w)\1").unwrap();
        assert_eq!(back_ref.execute("abba").captures, vec!["b"]);
    }

    #[test]
    fn classes_and_case_are_asciis_as_in_modsecurity() {
        // PCRE without its UTF flag: `\w` is [A-Za-z0-9_], `(?i)` folds ASCII only.
        assert!(!RxOperator::new(r"^\w+$").unwrap().execute("café").matched);
        assert!(RxOperator::new(r"(?i)^select$").unwrap().execute("SeLeCt").matched);
        assert!(!RxOperator::new(r"(?i)^k$").unwrap().execute("\u{212A}").matched, "the Kelvin sign is not a k");
        // A pattern that names a Unicode class keeps it.
        assert!(RxOperator::new(r"^\p{L}+$").unwrap().execute("café").matched);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_searched_as_pcre_searches_them() {
        // CRS 944200: Java serialization's header, bytes that no text holds.
        let magic = RxOperator::new(r"\xac\xed\x00\x05").unwrap();
        assert!(magic.execute_bytes(b"test=\xac\xed\x00\x05").unwrap().matched);
        assert!(!magic.execute(&String::from_utf8_lossy(b"\xac\xed\x00\x05")).matched);
        // The same characters written in UTF-8 are other bytes.
        assert!(!magic.execute("\u{ac}\u{ed}\u{0}\u{5}").matched);
    }

    #[test]
    fn a_pattern_neither_engine_accepts_is_a_load_error() {
        assert!(RxOperator::new("(unclosed").is_err());
        assert!(RxOperator::new("").is_err());
    }
}
