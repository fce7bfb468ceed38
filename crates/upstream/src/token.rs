//! Tokens (RFC 9110 §5.6.2), the syntax of field names, chunk extensions and trailers,
//! cookie names, and the device tokens of `Surrogate-Control`.

/// A byte of a token.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `text` is a token: one or more of its bytes.
pub fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(is_tchar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_visible_ascii_but_delimiters() {
        assert!(is_token("forecourt-2") && is_token("!#$%&'*+-.^_`|~") && is_token("X-Api-Key"));
        for not in ["", "a b", "a;b", "a=b", "\"a\"", "a/b", "ä"] {
            assert!(!is_token(not), "{not}");
        }
    }
}
