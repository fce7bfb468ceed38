//! Operator implementations for ModSecurity.

mod comparison;
mod detection;
mod network;
mod pattern;
mod rx;
mod traits;
mod validation;
mod verify_cc;

pub use comparison::{NumericOperator, NumericTest, StringOperator, StringTest};
pub use detection::{DetectSqliOperator, DetectXssOperator};
pub use network::IpMatchOperator;
pub use pattern::PmOperator;
pub use rx::RxOperator;
pub use traits::{Operator, OperatorResult};
pub use validation::{ValidateUrlEncodingOperator, ValidateUtf8EncodingOperator};
pub use verify_cc::VerifyCcOperator;

use crate::error::Result;
use crate::parser::{OperatorName, OperatorSpec};
use std::sync::Arc;

/// Type alias for a compiled operator.
pub type CompiledOperator = dyn Operator;

/// Create an operator from a name and argument string.
/// This is a convenience function for testing and benchmarking.
pub fn create_operator(name: OperatorName, argument: &str) -> Result<Arc<dyn Operator>> {
    let spec = OperatorSpec { negated: false, name, argument: argument.to_string() };
    compile_operator(&spec)
}

/// An operator this engine does not have, as SecLang writes it: compiled as never
/// matching (the one list of them; `compile_operator` goes by it).
pub fn missing(name: &OperatorName) -> Option<&'static str> {
    Some(match name {
        OperatorName::VerifySsn => "@verifySSN",
        OperatorName::VerifyCpf => "@verifyCPF",
        OperatorName::ValidateHash => "@validateHash",
        OperatorName::ValidateDtd => "@validateDTD",
        OperatorName::ValidateSchema => "@validateSchema",
        OperatorName::Rbl => "@rbl",
        OperatorName::GeoLookup => "@geoLookup",
        OperatorName::GsbLookup => "@gsbLookup",
        OperatorName::InspectFile => "@inspectFile",
        OperatorName::FuzzyHash => "@fuzzyHash",
        OperatorName::Rsub => "@rsub",
        _ => return None,
    })
}

/// Create a compiled operator from a specification.
pub fn compile_operator(spec: &OperatorSpec) -> Result<Arc<dyn Operator>> {
    let name = &spec.name;
    let argument = &spec.argument;
    if missing(name).is_some() {
        return Ok(Arc::new(NoMatchOperator));
    }
    match name {
        OperatorName::Rx => Ok(Arc::new(RxOperator::new(argument)?)),
        OperatorName::Pm | OperatorName::Pmf => Ok(Arc::new(PmOperator::new(argument)?)),
        OperatorName::PmFromFile => Ok(Arc::new(PmOperator::from_file(argument)?)),
        OperatorName::Contains => Ok(Arc::new(StringOperator::new(argument, StringTest::Contains, "contains"))),
        OperatorName::BeginsWith => Ok(Arc::new(StringOperator::new(argument, StringTest::BeginsWith, "beginsWith"))),
        OperatorName::EndsWith => Ok(Arc::new(StringOperator::new(argument, StringTest::EndsWith, "endsWith"))),
        OperatorName::StreQ => Ok(Arc::new(StringOperator::new(argument, StringTest::Equals, "streq"))),
        OperatorName::Eq => Ok(Arc::new(NumericOperator::new(argument, NumericTest::Eq, "eq"))),
        OperatorName::Gt => Ok(Arc::new(NumericOperator::new(argument, NumericTest::Gt, "gt"))),
        OperatorName::Lt => Ok(Arc::new(NumericOperator::new(argument, NumericTest::Lt, "lt"))),
        OperatorName::Ge => Ok(Arc::new(NumericOperator::new(argument, NumericTest::Ge, "ge"))),
        OperatorName::Le => Ok(Arc::new(NumericOperator::new(argument, NumericTest::Le, "le"))),
        OperatorName::DetectSqli => Ok(Arc::new(DetectSqliOperator)),
        OperatorName::DetectXss => Ok(Arc::new(DetectXssOperator)),
        OperatorName::ValidateUrlEncoding => Ok(Arc::new(ValidateUrlEncodingOperator)),
        OperatorName::ValidateUtf8Encoding => Ok(Arc::new(ValidateUtf8EncodingOperator)),
        OperatorName::IpMatch | OperatorName::IpMatchF => Ok(Arc::new(IpMatchOperator::new(argument)?)),
        OperatorName::IpMatchFromFile => Ok(Arc::new(IpMatchOperator::from_file(argument)?)),
        // The operators this engine does not have returned above, by `missing` (listed
        // here for the match's exhaustiveness): their rules never match, and the rule
        // set's load says which (`engine/load_report.rs`).
        OperatorName::NoMatch
        | OperatorName::VerifySsn
        | OperatorName::VerifyCpf
        | OperatorName::ValidateHash
        | OperatorName::ValidateDtd
        | OperatorName::ValidateSchema
        | OperatorName::Rbl
        | OperatorName::GeoLookup
        | OperatorName::GsbLookup
        | OperatorName::InspectFile
        | OperatorName::FuzzyHash
        | OperatorName::Rsub => Ok(Arc::new(NoMatchOperator)),
        OperatorName::UnconditionalMatch => Ok(Arc::new(UnconditionalMatchOperator)),
        OperatorName::ValidateByteRange => Ok(Arc::new(ValidateByteRangeOperator::new(argument))),
        OperatorName::VerifyCc => Ok(Arc::new(VerifyCcOperator::new(argument)?)),
        OperatorName::ContainsWord => {
            Ok(Arc::new(StringOperator::new(argument, StringTest::ContainsWord, "containsWord")))
        }
        OperatorName::Within => Ok(Arc::new(WithinOperator::new(argument))),
        OperatorName::StrMatch => Ok(Arc::new(StringOperator::new(argument, StringTest::Contains, "strmatch"))),
        OperatorName::Ne => Ok(Arc::new(NeOperator::new(argument))),
    }
}

/// Operator that never matches.
pub struct NoMatchOperator;

impl Operator for NoMatchOperator {
    fn execute(&self, _value: &str) -> OperatorResult {
        OperatorResult::no_match()
    }

    fn name(&self) -> &'static str {
        "noMatch"
    }
}

/// Operator that always matches.
pub struct UnconditionalMatchOperator;

impl Operator for UnconditionalMatchOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        OperatorResult::matched(value.to_string())
    }

    fn name(&self) -> &'static str {
        "unconditionalMatch"
    }
}

/// Validates that all bytes are within specified ranges.
pub struct ValidateByteRangeOperator {
    #[allow(dead_code)]
    ranges: Vec<(u8, u8)>,
}

impl ValidateByteRangeOperator {
    /// Create a new byte range validator.
    pub fn new(spec: &str) -> Self {
        // Parse ranges like "9,10,13,32-126"
        let mut ranges = Vec::new();
        for part in spec.split(',') {
            let part = part.trim();
            if part.contains('-') {
                let parts: Vec<&str> = part.split('-').collect();
                if parts.len() == 2 {
                    if let (Ok(start), Ok(end)) = (parts[0].parse(), parts[1].parse()) {
                        ranges.push((start, end));
                    }
                }
            } else if let Ok(byte) = part.parse() {
                ranges.push((byte, byte));
            }
        }
        Self { ranges }
    }
}

impl Operator for ValidateByteRangeOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        // Check if all bytes are within the allowed ranges
        for byte in value.bytes() {
            let valid = self.ranges.iter().any(|(start, end)| byte >= *start && byte <= *end);
            if !valid {
                // Invalid byte found - this is a match (rule should trigger)
                return OperatorResult::matched(format!("invalid byte: {}", byte));
            }
        }
        OperatorResult::no_match()
    }

    fn name(&self) -> &'static str {
        "validateByteRange"
    }
}

/// Within operator - checks if value is within a list of values.
pub struct WithinOperator {
    /// The parameter: the haystack the value is looked for in.
    haystack: String,
}

impl WithinOperator {
    /// Create a new within operator.
    pub fn new(values: &str) -> Self {
        Self { haystack: values.to_string() }
    }
}

impl Operator for WithinOperator {
    /// ModSecurity's `@within`: the value appears anywhere in the parameter (a substring,
    /// which CRS's `|application/json| |text/xml|` lists and `%{tx.allowed_methods}` rely
    /// on); an empty value is within anything.
    fn execute(&self, value: &str) -> OperatorResult {
        if value.is_empty() || self.haystack.contains(value) {
            OperatorResult::matched(value.to_string())
        } else {
            OperatorResult::no_match()
        }
    }

    fn name(&self) -> &'static str {
        "within"
    }
}

/// Not equal operator.
pub struct NeOperator {
    expected: String,
}

impl NeOperator {
    /// Create a new not-equal operator.
    pub fn new(expected: &str) -> Self {
        Self { expected: expected.to_string() }
    }
}

impl Operator for NeOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        // Try numeric comparison first
        if let (Ok(a), Ok(b)) = (value.parse::<i64>(), self.expected.parse::<i64>()) {
            if a != b {
                return OperatorResult::matched(value.to_string());
            }
        } else if value != self.expected {
            // String comparison
            return OperatorResult::matched(value.to_string());
        }
        OperatorResult::no_match()
    }

    fn name(&self) -> &'static str {
        "ne"
    }
}
