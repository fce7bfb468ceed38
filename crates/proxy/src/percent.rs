//! Percent-encoding (RFC 3986 §2.1) of the bytes a caller picks, with no allocation per
//! byte: the request target's characters a URI may not hold (`h1/head.rs`) and gRPC's
//! `grpc-message` (`answers/`).

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `bytes` with every byte `escape` picks, and every byte past ASCII, written as `%XX`.
pub fn encode(bytes: &[u8], escape: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(bytes.len() + 16);
    for &b in bytes {
        if b.is_ascii() && !escape(b) {
            out.push(char::from(b));
        } else {
            out.extend(['%', char::from(HEX[usize::from(b >> 4)]), char::from(HEX[usize::from(b & 0xF)])]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_bytes_and_bytes_past_ascii_are_escaped() {
        assert_eq!(encode(b"a<b>\"c\"", |b| matches!(b, b'<' | b'>' | b'"')), "a%3Cb%3E%22c%22");
        assert_eq!(encode("é%".as_bytes(), |b| b == b'%'), "%C3%A9%25");
        assert_eq!(encode(b"plain", |_| false), "plain");
    }
}
