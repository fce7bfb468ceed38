//! `@verifyCC`: a card number in the value, as libmodsecurity finds one: a match of the
//! rule's pattern (the number's shape) whose digits pass the Luhn check. A match that
//! fails it does not end the search: the next is looked for from the character after
//! its start, and the first that passes is captured (`TX:0`).
use super::traits::{Operator, OperatorResult};
use crate::error::{Error, Result};

/// `@verifyCC PATTERN`.
pub struct VerifyCcOperator {
    pattern: pcre2::bytes::Regex,
}

impl VerifyCcOperator {
    /// The pattern runs on PCRE2, as libmodsecurity runs it on PCRE.
    pub fn new(pattern: &str) -> Result<Self> {
        let pattern = pcre2::bytes::RegexBuilder::new().dotall(true).multi_line(true).build(pattern).map_err(|e| {
            Error::RegexCompile { pattern: pattern.to_string(), source: regex::Error::Syntax(e.to_string()) }
        })?;
        Ok(Self { pattern })
    }
}

/// The Luhn check over the digits of `text` (anything else skipped); no digits, no pass.
fn luhn(text: &[u8]) -> bool {
    let digits = text.iter().rev().filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0'));
    let (mut sum, mut count) = (0, 0);
    for (i, digit) in digits.enumerate() {
        sum += match i % 2 {
            0 => digit,
            _ if digit * 2 > 9 => digit * 2 - 9,
            _ => digit * 2,
        };
        count += 1;
    }
    count > 0 && sum % 10 == 0
}

impl Operator for VerifyCcOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        let subject = value.as_bytes();
        let mut from = 0;
        while from <= subject.len() {
            // A PCRE error (its match limit) ends the search without a match, as in ModSecurity.
            let Ok(Some(found)) = self.pattern.find_at(subject, from) else { break };
            if luhn(found.as_bytes()) {
                return OperatorResult::matched(String::from_utf8_lossy(found.as_bytes()).into_owned());
            }
            from = found.start() + 1;
        }
        OperatorResult::no_match()
    }

    fn name(&self) -> &'static str {
        "verifyCC"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_of_the_shape_that_passes_luhn_matches() {
        let cc = VerifyCcOperator::new(r"\b(?:\d[ -]*?){13,16}\b").unwrap();
        // Visa's test number passes; one digit changed, it does not (nor does any part of
        // it the pattern finds from a later start).
        assert_eq!(
            cc.execute("pay with 4111 1111 1111 1111 today").matched_value.as_deref(),
            Some("4111 1111 1111 1111")
        );
        assert!(!cc.execute("order 4111 1111 1111 1112").matched);
        // A failing match does not hide a passing one after it.
        assert!(cc.execute("ref 1234567890123, card 5500-0000-0000-0004").matched);
        assert!(!cc.execute("no digits here").matched);
        assert!(VerifyCcOperator::new("(unclosed").is_err());
    }
}
