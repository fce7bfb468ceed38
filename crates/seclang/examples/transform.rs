//! Runs transformations and operators on inputs, for comparing them with libmodsecurity's
//! (`bench/waf_transformations.py`).
//!
//!     transform urlDecodeUni cssDecode @detectSQLi '@verifyCC=\d{13,16}' < inputs
//!
//! Each line of standard input is one input in hex; each line of output holds, in hex and
//! separated by spaces, what each named transformation makes of it, and for an operator
//! (`@name`, or `@name=argument`) `1` and the value it captured when it matches, nothing
//! when not.
use forecourt_seclang::operators::{create_operator, Operator};
use forecourt_seclang::parser::OperatorName;
use forecourt_seclang::transformations::{create_transformation, Transformation};
use std::io::{BufRead, Write};
use std::sync::Arc;

enum Step {
    Transformation(Arc<dyn Transformation>),
    Operator(Arc<dyn Operator>),
}

impl Step {
    fn named(name: &str) -> Step {
        match name.strip_prefix('@') {
            Some(operator) => {
                let (operator, argument) = operator.split_once('=').unwrap_or((operator, ""));
                let known = OperatorName::from_str(operator).unwrap_or_else(|| panic!("{name}: no such operator"));
                Step::Operator(create_operator(known, argument).unwrap_or_else(|e| panic!("{name}: {e}")))
            }
            None => Step::Transformation(create_transformation(name).unwrap_or_else(|e| panic!("{name}: {e}"))),
        }
    }

    fn run(&self, input: &str) -> Vec<u8> {
        match self {
            Step::Transformation(t) => t.transform(input).into_owned().into_bytes(),
            Step::Operator(o) => {
                let result = o.execute(input);
                match result.matched {
                    true => [b"1", result.matched_value.unwrap_or_default().as_bytes()].concat(),
                    false => Vec::new(),
                }
            }
        }
    }
}

fn main() {
    let steps: Vec<Step> = std::env::args().skip(1).map(|name| Step::named(&name)).collect();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("standard input");
        let bytes: Vec<u8> = (0..line.len() / 2)
            .map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).expect("an input line in hex"))
            .collect();
        let input = String::from_utf8_lossy(&bytes);
        let outputs: Vec<String> = steps.iter().map(|step| hex(&step.run(&input))).collect();
        writeln!(out, "{}", outputs.join(" ")).expect("standard output");
    }
}
