//! `file:line:col: what is wrong` messages, with a hint where one helps.
use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Turns byte spans of one source text into diagnostics.
pub struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn at(&self, span: Range<usize>, message: impl Into<String>, hint: Option<String>) -> Diagnostic {
        let (line, col) = line_col(self.text, span.start);
        Diagnostic { file: self.file.to_string(), line, col, message: message.into(), hint }
    }

    /// Where the `index`th (from 0) `[[name]]` header stands, for an entry with nothing of
    /// its own to point at; the file's start when it has no such header (an inline array).
    pub fn array_table(&self, name: &str, index: usize) -> Range<usize> {
        let header = |line: &str| {
            let inner = line.trim().strip_prefix("[[").and_then(|l| l.split('#').next()?.trim_end().strip_suffix("]]"));
            inner.is_some_and(|n| n.trim() == name)
        };
        let mut at = 0;
        let mut found = self.text.split_inclusive('\n').filter_map(|line| {
            let start = at;
            at += line.len();
            header(line).then(|| start + (line.len() - line.trim_start().len()))
        });
        found.nth(index).map_or(0..0, |start| start..start + 2)
    }

    /// A TOML syntax or shape error from the parser, with a closest-name hint for unknown keys.
    pub fn toml_error(&self, err: &toml::de::Error) -> Diagnostic {
        let message = err.message().trim().to_string();
        let hint = unknown_field_hint(&message);
        let start = err.span().map(|s| s.start).unwrap_or(0);
        let (line, col) = line_col(self.text, start);
        Diagnostic { file: self.file.to_string(), line, col, message, hint }
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// serde says "unknown field `x`, expected one of `a`, `b`"; we say which one was meant.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(unknown, names.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`?")),
        None if !names.is_empty() => Some(format!("valid keys here: {}", names.join(", "))),
        None => None,
    }
}

/// The candidate nearest to `word` by edit distance, if it is near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= (c.len().max(word.len()) / 3).max(1) + 1 && d < c.len().max(word.len()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn hints_for_typos() {
        let hint = unknown_field_hint("unknown field `workerz`, expected one of `workers`, `admin`");
        assert_eq!(hint.as_deref(), Some("did you mean `workers`?"));
        assert_eq!(closest("api", ["apii", "web"].into_iter()), Some("apii"));
        assert_eq!(closest("zzz", ["api", "web"].into_iter()), None);
    }
}
