//! Detection operators (@detectSQLi, @detectXSS).
//!
//! libinjection's tokenisers and fingerprint tables (the `libinjectionrs` port), as
//! ModSecurity's operators of the same names call the C library.

use super::traits::{Operator, OperatorResult};

/// SQL injection detection operator (@detectSQLi).
pub struct DetectSqliOperator;

impl Operator for DetectSqliOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        let result = libinjectionrs::detect_sqli(value.as_bytes());
        if result.is_injection() {
            // ModSecurity sets TX:0 to the fingerprint (`s&sos`, ...).
            OperatorResult::matched(result.fingerprint.map(|f| f.to_string()).unwrap_or_default())
        } else {
            OperatorResult::no_match()
        }
    }

    fn name(&self) -> &'static str {
        "detectSQLi"
    }
}

/// XSS detection operator (@detectXSS).
pub struct DetectXssOperator;

impl Operator for DetectXssOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        if libinjectionrs::detect_xss(value.as_bytes()).is_injection() {
            OperatorResult::matched(String::new())
        } else {
            OperatorResult::no_match()
        }
    }

    fn name(&self) -> &'static str {
        "detectXSS"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_behind_in_boolean_mode_is_found_as_libinjection_finds_it() {
        // sqlmap's `' IN BOOLEAN MODE)` boundary: libinjection merges IN + BOOLEAN (listed
        // as a bareword) + MODE into one keyword; the unpatched port never merged them.
        let attacks = [
            ("1' IN BOOLEAN MODE) AND 3903=3961-- -#", "sk)&1"),
            ("1' IN BOOLEAN MODE) OR MAKE_SET(7410=6132,7529)#", "sk)&f"),
        ];
        for (attack, fingerprint) in attacks {
            let found = DetectSqliOperator.execute(attack);
            assert!(found.matched, "{attack}");
            assert_eq!(found.matched_value.as_deref(), Some(fingerprint), "{attack}");
        }
        assert!(!DetectSqliOperator.execute("Tom and Jerry or the cat's -- best friend").matched);
    }
}
