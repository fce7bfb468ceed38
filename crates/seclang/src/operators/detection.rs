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
