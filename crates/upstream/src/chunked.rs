//! Chunked transfer coding (RFC 9112 §7.1), read strictly: bare LF, non-hex or overlong
//! sizes, missing CRLFs, control bytes in extensions and malformed trailer fields are
//! errors, never guesses. One state machine serves both the
//! HTTP/1 server (request bodies) and the upstream client
//! (which also takes the data out).
use crate::token::is_tchar;
use bytes::{Bytes, BytesMut};
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size {
        digits: u8,
        value: u64,
    },
    /// After a `;`: optional whitespace, then the extension's name must come.
    ExtName {
        value: u64,
    },
    Ext {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// The framing is broken.
#[derive(Debug, PartialEq, Eq)]
pub struct BadChunk;

/// One step over some bytes: how many were consumed, and which of them were chunk data.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    pub consumed: usize,
    pub data: Range<usize>,
}

/// Where a chunked body is, as its bytes go by.
#[derive(Debug, Clone)]
pub struct ChunkedFraming {
    state: State,
    sizes_seen: u64,
}

impl Default for ChunkedFraming {
    fn default() -> Self {
        ChunkedFraming { state: State::Size { digits: 0, value: 0 }, sizes_seen: 0 }
    }
}

impl ChunkedFraming {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether a complete chunk-size line has been read.
    pub fn first_size_seen(&self) -> bool {
        self.sizes_seen > 0
    }

    /// Reads framing bytes up to and including the next run of data (or to the end of the
    /// body, or of `bytes`).
    pub fn advance(&mut self, bytes: &[u8]) -> Result<Step, BadChunk> {
        let mut i = 0;
        while i < bytes.len() && self.state != State::Done {
            if let State::Data(left) = self.state {
                let take = left.min((bytes.len() - i) as u64);
                self.state = if take == left { State::DataCr } else { State::Data(left - take) };
                let end = i + take as usize;
                return Ok(Step { consumed: end, data: i..end });
            }
            self.step(bytes[i])?;
            i += 1;
        }
        Ok(Step { consumed: i, data: i..i })
    }

    fn step(&mut self, b: u8) -> Result<(), BadChunk> {
        self.state = match self.state {
            State::Size { digits, value } => match b {
                b'\r' if digits > 0 => State::SizeLf { value },
                b';' if digits > 0 => State::ExtName { value },
                _ => {
                    let d = (b as char).to_digit(16).ok_or(BadChunk)?;
                    if digits >= 15 {
                        return Err(BadChunk);
                    }
                    State::Size { digits: digits + 1, value: value * 16 + u64::from(d) }
                }
            },
            // RFC 9112 §7.1.1: `;` BWS chunk-ext-name: a `;` with no name after it is broken
            // framing, not an empty extension (parsers that differ on it can be smuggled past).
            State::ExtName { value } => match b {
                b' ' | b'\t' => State::ExtName { value },
                _ if is_tchar(b) => State::Ext { value },
                _ => return Err(BadChunk),
            },
            State::Ext { value } => match b {
                b'\r' => State::SizeLf { value },
                b';' => State::ExtName { value },
                _ if is_control(b) => return Err(BadChunk),
                _ => State::Ext { value },
            },
            State::SizeLf { value } if b == b'\n' => {
                self.sizes_seen += 1;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data(value)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { digits: 0, value: 0 },
            State::TrailerStart if b == b'\r' => State::EndLf,
            // A field name: a token, then a colon (so no obs-fold, no space before the colon).
            State::TrailerStart | State::TrailerName if is_tchar(b) => State::TrailerName,
            State::TrailerName if b == b':' => State::TrailerValue,
            State::TrailerValue => match b {
                b'\r' => State::TrailerLf,
                _ if is_control(b) => return Err(BadChunk),
                _ => State::TrailerValue,
            },
            State::TrailerLf if b == b'\n' => State::TrailerStart,
            State::EndLf if b == b'\n' => State::Done,
            _ => return Err(BadChunk),
        };
        Ok(())
    }

    /// Takes the next run of data out of `buf`, dropping the framing before it; `None` when
    /// `buf` held framing only (more bytes needed, or the body is done).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, BadChunk> {
        loop {
            if buf.is_empty() || self.is_done() {
                return Ok(None);
            }
            let step = self.advance(buf)?;
            let taken = buf.split_to(step.consumed);
            if !step.data.is_empty() {
                return Ok(Some(taken.freeze().slice(step.data)));
            }
        }
    }
}

/// A control byte other than HTAB (CR is handled before this is asked).
fn is_control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, bool, usize), BadChunk> {
        let mut buf = BytesMut::from(input);
        let mut f = ChunkedFraming::default();
        let mut out = Vec::new();
        while let Some(data) = f.decode(&mut buf)? {
            out.extend_from_slice(&data);
        }
        Ok((out, f.is_done(), buf.len()))
    }

    #[test]
    fn decodes_and_stops_at_the_end() {
        let (data, done, left) = decode_all(b"5\r\nhello\r\n6; x=y;z\r\n world\r\n0\r\nT: 1\r\n\r\nNEXT").unwrap();
        assert_eq!((data.as_slice(), done, left), (&b"hello world"[..], true, 4));
    }

    #[test]
    fn partial_input_needs_more() {
        let (data, done, _) = decode_all(b"a\r\n01234").unwrap();
        assert_eq!((data.as_slice(), done), (&b"01234"[..], false));
    }

    #[test]
    fn works_byte_by_byte() {
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut f = ChunkedFraming::default();
        for b in body.iter() {
            assert_eq!(f.advance(std::slice::from_ref(b)).unwrap().consumed, 1);
        }
        assert!(f.is_done() && f.first_size_seen());
    }

    #[test]
    fn refuses_broken_framing() {
        let bad: [&[u8]; 17] = [
            b"5\nhello",
            b"5;\r\nhello\r\n",
            b"5; \r\nhello\r\n",
            b"5;x;\r\nhello\r\n",
            b"-5\r\n",
            b"0x5\r\n",
            b"\r\n",
            b"5 \r\n",
            b"1\r\naXY",
            b"ffffffffffffffffff\r\n",
            b"0\r\n\n",
            b"g\r\n",
            b"1;a\x01b\r\n",
            b"0\r\nX T: 1\r\n\r\n",
            b"0\r\n X: 1\r\n\r\n",
            b"0\r\nX\r\n\r\n",
            b"0\r\nX: a\x00\r\n\r\n",
        ];
        for input in bad {
            assert_eq!(decode_all(input), Err(BadChunk), "{:?}", String::from_utf8_lossy(input));
        }
    }
}
