//! Reading rule files: a file, the files a glob names, and the `Include` and
//! `IncludeOptional` directives that name them from inside another file.
use super::{Directive, Lexer, Parser};
use crate::error::{Error, Result};
use std::path::Path;

impl Parser {
    /// Parse a configuration file.
    pub fn parse_file(&mut self, path: &Path) -> Result<()> {
        let content =
            std::fs::read_to_string(path).map_err(|e| Error::RuleFileLoad { path: path.to_path_buf(), source: e })?;
        self.parse_with_location(&content, Some(path))
    }

    /// Parse files matching a glob pattern; returns how many it parsed.
    pub fn parse_glob(&mut self, pattern: &str) -> Result<usize> {
        let paths = glob::glob(pattern).map_err(|e| Error::parse(format!("invalid glob pattern: {}", e), pattern))?;
        let mut parsed = 0;
        for entry in paths {
            match entry {
                Ok(path) => {
                    if path.is_file() {
                        self.parse_file(&path)?;
                        parsed += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "error reading glob entry");
                }
            }
        }

        Ok(parsed)
    }

    /// Parse an Include (`required`) or IncludeOptional directive. An Include that names
    /// no file is refused, as ModSecurity refuses it: a mistyped path would otherwise
    /// leave rules out without a word. IncludeOptional (Apache's, which Debian's
    /// `owasp-crs.load` and CRS 4's plugin set-up use) may name none.
    pub(super) fn parse_include(&mut self, lexer: &mut Lexer, required: bool) -> Result<Directive> {
        let path = self.expect_argument(lexer, "Include path")?;

        // Resolve relative paths (including globs) against the including file's
        // directory. A glob pattern never `exists()` as a literal path, so it is
        // detected explicitly rather than falling back to a CWD-relative path.
        let resolved_path = if let Some(parent) = self.location.file.as_ref().and_then(|f| f.parent()) {
            let candidate = parent.join(&path);
            let is_glob = path.contains(['*', '?', '[']);
            if candidate.exists() || is_glob {
                candidate.to_string_lossy().to_string()
            } else {
                path
            }
        } else {
            path
        };

        // Parse the included file(s)
        if self.parse_glob(&resolved_path)? == 0 && required {
            let message = format!("Include `{resolved_path}` names no file (IncludeOptional may name none)");
            return Err(Error::parse(message, self.location.to_string()));
        }

        Ok(Directive::Include(resolved_path.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::scratch_dir::ScratchDir;
    use super::*;

    #[test]
    fn test_relative_include_glob_resolves() {
        // `Include rules/*.conf` must resolve relative to the including file,
        // not the process CWD.
        let dir = ScratchDir::new("include");
        let sub = dir.join("rules");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("a.conf"), r#"SecRule REQUEST_URI "@contains /a" "id:101,phase:1,deny""#).unwrap();
        std::fs::write(sub.join("b.conf"), r#"SecRule REQUEST_URI "@contains /b" "id:102,phase:1,deny""#).unwrap();
        let entry = dir.join("entry.conf");
        std::fs::write(&entry, "Include rules/*.conf\n").unwrap();

        let mut parser = Parser::new();
        parser.parse_file(&entry).unwrap();
        let secrules = parser.directives.iter().filter(|d| matches!(d, Directive::SecRule(_))).count();
        assert_eq!(secrules, 2, "both included rule files should be parsed");
    }

    /// Parses `entry.conf` (with `text`) in a folder that holds `rules/a.conf` and
    /// `rules/b.conf`, one rule each; the number of rules read, or the error.
    fn rules_read_from(name: &str, text: &str) -> Result<usize> {
        let dir = ScratchDir::new(name);
        let sub = dir.join("rules");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("a.conf"), r#"SecRule REQUEST_URI "@contains /a" "id:101,phase:1,deny""#).unwrap();
        std::fs::write(sub.join("b.conf"), r#"SecRule REQUEST_URI "@contains /b" "id:102,phase:1,deny""#).unwrap();
        let entry = dir.join("entry.conf");
        std::fs::write(&entry, text).unwrap();
        let mut parser = Parser::new();
        parser.parse_file(&entry)?;
        Ok(parser.directives.iter().filter(|d| matches!(d, Directive::SecRule(_))).count())
    }

    #[test]
    fn an_include_that_names_no_file_is_refused_where_it_stands() {
        // A mistyped path, a glob that matches nothing: ModSecurity refuses both, and
        // loading on without them would leave rules out unseen.
        for (name, missing) in
            [("missing", "rules/c.conf"), ("no-match", "rules/*.rules"), ("no-dir", "/nonexistent/*.conf")]
        {
            let text = format!("SecRuleEngine On\nInclude rules/a.conf\n# the next one is wrong\nInclude {missing}\n");
            match rules_read_from(name, &text) {
                Err(Error::InRule { file, line, source, .. }) => {
                    assert!(file.is_some_and(|f| f.ends_with("entry.conf")), "{missing}");
                    assert_eq!(line, 4, "{missing}");
                    let message = source.to_string();
                    assert!(message.contains("names no file") && message.contains(missing), "{message}");
                }
                other => panic!("{missing}: expected a located error, got {other:?}"),
            }
        }
    }

    #[test]
    fn include_optional_may_name_nothing_and_reads_what_it_names() {
        // Debian's owasp-crs.load and CRS 4's plugin set-up: optional files before and
        // after the rules.
        let text = "IncludeOptional rules/*-before.conf\nIncludeOptional /nonexistent/x.conf\n\
                    includeoptional rules/*.conf\n";
        assert_eq!(rules_read_from("optional", text).unwrap(), 2);
    }

    #[test]
    fn a_word_that_is_no_directive_is_named_with_its_file_and_line() {
        match rules_read_from("unknown", "SecRuleEngine On\nIncludeOptionally rules/*.conf\n") {
            Err(error @ Error::InRule { line: 2, .. }) => {
                let message = error.to_string();
                assert!(
                    message.contains("entry.conf:2")
                        && message.contains("unexpected `IncludeOptionally`: no directive"),
                    "{message}"
                );
            }
            other => panic!("expected a located error, got {other:?}"),
        }
    }
}
