//! Comparison operators: the string ones (`@contains`, `@containsWord`, `@beginsWith`,
//! `@endsWith`, `@streq`, `@strmatch`) and the numeric ones (`@eq`, `@gt`, `@ge`, `@lt`,
//! `@le`), each family one type with the test as a value. An argument with a macro
//! (`%{tx.…}`) is expanded by the transaction, which builds the operator from the expanded
//! text (`engine/transaction.rs`).

use super::traits::{Operator, OperatorResult};

/// How a string operator compares the value with its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringTest {
    /// The argument anywhere in the value (`@contains`, `@strmatch`).
    Contains,
    /// The argument as a whole word: not next to an ASCII letter (libmodsecurity's rule).
    ContainsWord,
    /// The value starts with the argument.
    BeginsWith,
    /// The value ends with the argument.
    EndsWith,
    /// The value is the argument (`@streq`).
    Equals,
}

/// A string operator: its argument and its test.
pub struct StringOperator {
    argument: String,
    test: StringTest,
    name: &'static str,
}

impl StringOperator {
    /// The operator called `name` in SecLang, testing with `test` against `argument`.
    pub fn new(argument: &str, test: StringTest, name: &'static str) -> Self {
        Self { argument: argument.to_string(), test, name }
    }
}

impl Operator for StringOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        let arg = self.argument.as_str();
        let matched = match self.test {
            StringTest::Contains => value.contains(arg),
            StringTest::ContainsWord => contains_word(value, arg),
            StringTest::BeginsWith => value.starts_with(arg),
            StringTest::EndsWith => value.ends_with(arg),
            StringTest::Equals => value == arg,
        };
        match (matched, self.test) {
            (false, _) => OperatorResult::no_match(),
            // ModSecurity logs the value for `@streq`, the argument for the others.
            (true, StringTest::Equals) => OperatorResult::matched(value.to_string()),
            (true, _) => OperatorResult::matched(self.argument.clone()),
        }
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

/// libmodsecurity's `@containsWord`: an empty word is in everything; otherwise some
/// occurrence has no ASCII letter right before it nor right after it (digits and
/// punctuation bound a word, as there).
fn contains_word(value: &str, word: &str) -> bool {
    if word.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    let letter_at = |at: Option<usize>| at.and_then(|i| bytes.get(i)).is_some_and(u8::is_ascii_alphabetic);
    value.match_indices(word).any(|(at, _)| !letter_at(at.checked_sub(1)) && !letter_at(Some(at + word.len())))
}

/// How a numeric operator compares the value (left) with its argument (right).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericTest {
    /// value = argument
    Eq,
    /// value > argument
    Gt,
    /// value ≥ argument
    Ge,
    /// value < argument
    Lt,
    /// value ≤ argument
    Le,
}

/// A numeric operator. Both sides are read as libmodsecurity reads them: leading
/// whitespace, a sign and the digits that follow, whatever comes after ignored, and 0 when
/// there are no digits (`atoll`; `@eq` uses `std::stoi`, which also gives 0 beyond the
/// range of a 32-bit int). So `@eq 0` matches an empty or non-numeric value, as there.
pub struct NumericOperator {
    argument: i64,
    test: NumericTest,
    name: &'static str,
}

impl NumericOperator {
    /// The operator called `name` in SecLang, testing with `test` against `argument`.
    pub fn new(argument: &str, test: NumericTest, name: &'static str) -> Self {
        Self { argument: read_number(argument, test), test, name }
    }
}

impl Operator for NumericOperator {
    fn execute(&self, value: &str) -> OperatorResult {
        let n = read_number(value, self.test);
        let matched = match self.test {
            NumericTest::Eq => n == self.argument,
            NumericTest::Gt => n > self.argument,
            NumericTest::Ge => n >= self.argument,
            NumericTest::Lt => n < self.argument,
            NumericTest::Le => n <= self.argument,
        };
        if matched {
            OperatorResult::matched(value.to_string())
        } else {
            OperatorResult::no_match()
        }
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

/// A number as libmodsecurity reads one for `test` (see `NumericOperator`).
fn read_number(text: &str, test: NumericTest) -> i64 {
    let text = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let end = digits.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    let magnitude: i128 = digits[..end].bytes().fold(0i128, |n, d| (n * 10 + i128::from(d - b'0')).min(1 << 64));
    let n = if negative { -magnitude } else { magnitude };
    match test {
        // std::stoi throws beyond an int, and libmodsecurity's catch makes it 0.
        NumericTest::Eq => i32::try_from(n).map_or(0, i64::from),
        // atoll saturates (glibc's strtoll).
        _ => n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(test: StringTest, arg: &str) -> StringOperator {
        StringOperator::new(arg, test, "test")
    }

    fn numeric(test: NumericTest, arg: &str) -> NumericOperator {
        NumericOperator::new(arg, test, "test")
    }

    #[test]
    fn string_tests() {
        assert!(string(StringTest::Contains, "admin").execute("/admin/users").matched);
        assert!(!string(StringTest::Contains, "admin").execute("/users").matched);
        assert!(string(StringTest::BeginsWith, "/admin").execute("/admin/users").matched);
        assert!(!string(StringTest::BeginsWith, "/admin").execute("/users/admin").matched);
        assert!(string(StringTest::EndsWith, ".php").execute("index.php").matched);
        assert!(!string(StringTest::EndsWith, ".php").execute("index.html").matched);
        assert!(string(StringTest::Equals, "admin").execute("admin").matched);
        assert!(!string(StringTest::Equals, "admin").execute("Admin").matched);
        // What each logs as the matched data.
        assert_eq!(string(StringTest::Contains, "adm").execute("/admin").matched_value.as_deref(), Some("adm"));
        assert_eq!(string(StringTest::Equals, "x").execute("x").matched_value.as_deref(), Some("x"));
    }

    #[test]
    fn a_word_is_bounded_by_anything_but_an_ascii_letter() {
        let op = string(StringTest::ContainsWord, "select");
        for yes in ["select", "select *", "1 select", "(select)", "x=select", "2select3", "_select_"] {
            assert!(op.execute(yes).matched, "{yes}");
        }
        for no in ["selected", "preselect", "", "sel ect", "Select"] {
            assert!(!op.execute(no).matched, "{no}");
        }
        // A later occurrence can be the word when the first is not.
        assert!(op.execute("selects and select").matched);
        assert!(string(StringTest::ContainsWord, "").execute("anything").matched);
    }

    #[test]
    fn numeric_tests() {
        assert!(numeric(NumericTest::Eq, "10").execute("10").matched);
        assert!(!numeric(NumericTest::Eq, "10").execute("11").matched);
        assert!(numeric(NumericTest::Gt, "10").execute("11").matched);
        assert!(!numeric(NumericTest::Gt, "10").execute("10").matched);
        assert!(numeric(NumericTest::Ge, "10").execute("10").matched);
        assert!(numeric(NumericTest::Lt, "10").execute("9").matched);
        assert!(!numeric(NumericTest::Lt, "10").execute("10").matched);
        assert!(numeric(NumericTest::Le, "10").execute("10").matched);
        assert!(numeric(NumericTest::Lt, "0").execute("-3").matched);
    }

    #[test]
    fn numbers_are_read_as_libmodsecurity_reads_them() {
        // Leading digits count, the rest is ignored; no digits is 0.
        assert!(numeric(NumericTest::Eq, "0").execute("").matched);
        assert!(numeric(NumericTest::Eq, "0").execute("abc").matched);
        assert!(numeric(NumericTest::Gt, "100").execute("  150 bytes").matched);
        assert!(numeric(NumericTest::Eq, "12").execute("+12x").matched);
        assert!(numeric(NumericTest::Ge, "").execute("0").matched, "an empty argument is 0");
        // Beyond an int, `@eq`'s stoi gives 0; the others saturate.
        assert!(numeric(NumericTest::Eq, "0").execute("99999999999").matched);
        assert!(numeric(NumericTest::Gt, "1").execute("99999999999999999999999").matched);
        assert_eq!(read_number("-99999999999999999999999", NumericTest::Lt), i64::MIN);
    }
}
