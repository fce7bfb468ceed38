//! `t:parityEven7bit`, `t:parityOdd7bit` and `t:parityZero7bit`: the top bit of each byte
//! set or cleared, as libmodsecurity does it. The parity is that of the whole byte, top
//! bit included (libmodsecurity's arithmetic). The result is libmodsecurity's bytes when
//! they are UTF-8; otherwise each byte is the Latin-1 character of that number, as
//! `t:urlDecodeUni` writes a `%XX` byte, since the engine's text is UTF-8.
use super::Transformation;
use std::borrow::Cow;

/// Whether a byte has an odd number of set bits.
fn odd(byte: u8) -> bool {
    byte.count_ones() % 2 == 1
}

fn each_byte<'a>(input: &'a str, change: impl Fn(u8) -> u8) -> Cow<'a, str> {
    if input.bytes().all(|b| change(b) == b) {
        return Cow::Borrowed(input);
    }
    let bytes: Vec<u8> = input.bytes().map(change).collect();
    Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|e| e.into_bytes().into_iter().map(char::from).collect()))
}

/// `t:parityEven7bit`: the top bit set where the byte's parity is odd, cleared where even.
pub struct ParityEven7bit;

impl Transformation for ParityEven7bit {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        each_byte(input, |b| if odd(b) { b | 0x80 } else { b & 0x7f })
    }

    fn name(&self) -> &'static str {
        "parityEven7bit"
    }
}

/// `t:parityOdd7bit`: the top bit cleared where the byte's parity is odd, set where even.
pub struct ParityOdd7bit;

impl Transformation for ParityOdd7bit {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        each_byte(input, |b| if odd(b) { b & 0x7f } else { b | 0x80 })
    }

    fn name(&self) -> &'static str {
        "parityOdd7bit"
    }
}

/// `t:parityZero7bit`: the top bit cleared.
pub struct ParityZero7bit;

impl Transformation for ParityZero7bit {
    fn transform<'a>(&self, input: &'a str) -> Cow<'a, str> {
        each_byte(input, |b| b & 0x7f)
    }

    fn name(&self) -> &'static str {
        "parityZero7bit"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_bit_follows_each_bytes_parity() {
        // 'a' 0x61 has three bits set (odd), 'c' 0x63 four (even).
        assert_eq!(ParityEven7bit.transform("ac"), "\u{e1}c");
        assert_eq!(ParityOdd7bit.transform("ac"), "a\u{e3}");
        assert!(matches!(ParityZero7bit.transform("ac"), Cow::Borrowed("ac")));
        // 'é' is 0xC3 0xA9 in UTF-8: each byte on its own, as libmodsecurity reads them.
        assert_eq!(ParityZero7bit.transform("é"), "C)");
        assert_eq!(ParityEven7bit.transform("é"), "C)");
    }
}
