//! The JSON request body processor, as ModSecurity's: every scalar in the document becomes
//! one argument named by its path, prefixed with `json.` and joined with `.`, with array
//! indices as path segments — the naming libmodsecurity uses, so CRS exclusions written as
//! `ARGS:json.user.name` keep working:
//!
//! ```text
//! {"user": {"name": "bob"}, "tags": ["a", "b"]}
//!   -> json.user.name = bob
//!      json.tags.0    = a
//!      json.tags.1    = b
//! ```
//!
//! Duplicate keys are all kept (`json.rs`).

use super::collection::HashMapCollection;
use super::json::JsonNode;

/// Flattens `body` into `args`. `Err` is why the body could not be processed (not JSON, or
/// past a bound): the caller reports it as `REQBODY_ERROR`, which CRS's rule 200002
/// refuses. What was extracted before a bound was hit stays in `args`.
pub fn flatten(body: &[u8], args: &mut HashMapCollection) -> Result<(), String> {
    // A body that is empty or only whitespace has nothing to inspect, and
    // is not a parse failure. Clients legitimately send an empty body with
    // `Content-Type: application/json` on POST and DELETE; reporting that
    // as an error would make CRS rule 200002 block them.
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(());
    }
    let value: JsonNode = serde_json::from_slice(body).map_err(|e| format!("JSON parsing error: {e}"))?;
    let mut count = 0usize;
    let mut path = String::from("json");
    if flatten_json(&value, &mut path, args, &mut count, 0) {
        return Err(format!(
            "JSON body exceeded processing limits ({MAX_JSON_ARGS} arguments or \
             {MAX_JSON_DEPTH} levels of nesting); only part of the body was inspected"
        ));
    }
    Ok(())
}

/// Most arguments extracted from a single JSON body.
///
/// A hostile body can be small on the wire and still expand into an enormous
/// number of arguments — `[[[...]]]` or a long array of scalars — each of
/// which would then be run through every rule's operator. The cap bounds that
/// work; exceeding it is reported as a body-processor error rather than
/// silently truncating, since a partially inspected body is not a safe body.
const MAX_JSON_ARGS: usize = 4096;

/// Deepest JSON nesting the flattener will descend.
///
/// `serde_json` already refuses to *parse* beyond its own recursion limit;
/// this bounds the separate recursion done here.
const MAX_JSON_DEPTH: usize = 64;

/// Flatten a JSON value into `args`, naming each scalar by its path.
///
/// `path` is the prefix built so far and is restored before returning, so one
/// buffer is reused for the whole document. Returns `true` if a limit was hit
/// and the result is therefore incomplete.
fn flatten_json(
    value: &JsonNode,
    path: &mut String,
    args: &mut HashMapCollection,
    count: &mut usize,
    depth: usize,
) -> bool {
    if depth > MAX_JSON_DEPTH {
        return true;
    }

    match value {
        JsonNode::Object(entries) => {
            // Duplicate keys produce repeated entries under the same argument
            // name, so every value a client sent is inspected. Keeping only
            // one would let a parser differential hide a payload.
            for (key, child) in entries {
                let restore = path.len();
                path.push('.');
                path.push_str(key);
                let truncated = flatten_json(child, path, args, count, depth + 1);
                path.truncate(restore);
                if truncated {
                    return true;
                }
            }
            false
        }
        JsonNode::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let restore = path.len();
                path.push('.');
                path.push_str(&index.to_string());
                let truncated = flatten_json(child, path, args, count, depth + 1);
                path.truncate(restore);
                if truncated {
                    return true;
                }
            }
            false
        }
        // Scalars are the leaves that become arguments. `null` contributes an
        // empty value rather than being skipped, so a rule testing for the
        // presence of a key still sees it.
        JsonNode::String(s) => push_json_arg(path, s.clone(), args, count),
        JsonNode::Number(n) => push_json_arg(path, n.clone(), args, count),
        JsonNode::Bool(b) => push_json_arg(path, b.to_string(), args, count),
        JsonNode::Null => push_json_arg(path, String::new(), args, count),
    }
}

/// Record one flattened scalar. Returns `true` once the argument cap is hit.
fn push_json_arg(path: &str, value: String, args: &mut HashMapCollection, count: &mut usize) -> bool {
    if *count >= MAX_JSON_ARGS {
        return true;
    }
    *count += 1;
    args.add(path.to_string(), value);
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::Collection;

    fn parse(body: &str) -> (Result<(), String>, HashMapCollection) {
        let mut args = HashMapCollection::new();
        (flatten(body.as_bytes(), &mut args), args)
    }

    #[test]
    fn scalars_are_named_by_their_path_and_duplicates_all_kept() {
        let (ok, args) = parse(r#"{"user": {"name": "bob", "name": "eve"}, "tags": ["a", 2, true, null]}"#);
        assert_eq!(ok, Ok(()));
        assert_eq!(args.get("json.user.name"), Some(vec!["bob", "eve"]));
        assert_eq!(args.get("json.tags.0"), Some(vec!["a"]));
        assert_eq!(args.get("json.tags.1"), Some(vec!["2"]));
        assert_eq!(args.get("json.tags.2"), Some(vec!["true"]));
        assert_eq!(args.get("json.tags.3"), Some(vec![""]), "null is present, empty");
    }

    #[test]
    fn empty_bodies_pass_and_bad_or_unbounded_ones_are_errors() {
        assert_eq!(parse(" \n").0, Ok(()));
        assert!(parse("{\"a\":").0.unwrap_err().starts_with("JSON parsing error"));
        let many = format!("[{}1]", "1,".repeat(MAX_JSON_ARGS));
        let (refused, args) = parse(&many);
        assert!(refused.unwrap_err().contains("processing limits"));
        assert_eq!(args.all().len(), MAX_JSON_ARGS, "what was read stays");
        let deep = format!("{}1{}", "{\"a\":".repeat(MAX_JSON_DEPTH + 1), "}".repeat(MAX_JSON_DEPTH + 1));
        assert!(parse(&deep).0.unwrap_err().contains("processing limits"));
    }
}
