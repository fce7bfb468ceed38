//! A strict scanner for HTTP/1.1 chunked framing (RFC 9112 §7.1). It does not decode;
//! it only finds where a chunked body ends and refuses anything two parsers could read
//! differently (bare LF, non-hex or overlong sizes, bytes where CRLF belongs).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size.
    Size {
        digits: u8,
        value: u64,
    },
    /// After `;`: chunk extensions up to CR.
    Ext {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
    Done,
}

/// Where a chunked body is, as its bytes are fed in order.
#[derive(Debug, Clone)]
pub struct ChunkScan {
    state: State,
    /// A complete chunk-size line has been seen: the body's framing has started to prove itself.
    pub first_size_seen: bool,
}

/// The framing is broken: the request must be refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadChunk;

impl Default for ChunkScan {
    fn default() -> Self {
        ChunkScan { state: State::Size { digits: 0, value: 0 }, first_size_seen: false }
    }
}

impl ChunkScan {
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Scans `bytes`; returns how many belong to the body (all of them, unless the body
    /// ends inside `bytes`).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<usize, BadChunk> {
        let mut i = 0;
        while i < bytes.len() && self.state != State::Done {
            if let State::Data(left) = self.state {
                let take = left.min((bytes.len() - i) as u64);
                i += take as usize;
                self.state = if take == left { State::DataCr } else { State::Data(left - take) };
                continue;
            }
            self.step(bytes[i])?;
            i += 1;
        }
        Ok(i)
    }

    fn step(&mut self, b: u8) -> Result<(), BadChunk> {
        self.state = match self.state {
            State::Size { digits, value } => match b {
                b'\r' if digits > 0 => State::SizeLf { value },
                b';' if digits > 0 => State::Ext { value },
                _ => {
                    let d = (b as char).to_digit(16).ok_or(BadChunk)?;
                    if digits >= 15 {
                        return Err(BadChunk);
                    }
                    State::Size { digits: digits + 1, value: value * 16 + u64::from(d) }
                }
            },
            State::Ext { value } => match b {
                b'\r' => State::SizeLf { value },
                b'\n' | 0 => return Err(BadChunk),
                _ => State::Ext { value },
            },
            State::SizeLf { value } if b == b'\n' => {
                self.first_size_seen = true;
                if value == 0 {
                    State::TrailerStart
                } else {
                    State::Data(value)
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size { digits: 0, value: 0 },
            State::TrailerStart if b == b'\r' => State::EndLf,
            State::TrailerStart if b != b'\n' => State::TrailerLine,
            State::TrailerLine => match b {
                b'\r' => State::TrailerLf,
                b'\n' => return Err(BadChunk),
                _ => State::TrailerLine,
            },
            State::TrailerLf if b == b'\n' => State::TrailerStart,
            State::EndLf if b == b'\n' => State::Done,
            _ => return Err(BadChunk),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(input: &[u8]) -> Result<(usize, bool), BadChunk> {
        let mut s = ChunkScan::default();
        let n = s.feed(input)?;
        Ok((n, s.is_done()))
    }

    #[test]
    fn finds_the_end_of_a_body() {
        let body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n";
        let end = body.len() - b"GET / HTTP/1.1\r\n".len();
        assert_eq!(scan(body), Ok((end, true)));
    }

    #[test]
    fn works_byte_by_byte() {
        let body = b"a\r\n0123456789\r\n0\r\n\r\n";
        let mut s = ChunkScan::default();
        for b in body.iter() {
            assert_eq!(s.feed(std::slice::from_ref(b)), Ok(1));
        }
        assert!(s.is_done());
    }

    #[test]
    fn refuses_ambiguous_framing() {
        for bad in [
            &b"5\nhello\r\n"[..],
            b"-5\r\n",
            b"0x5\r\n",
            b"\r\n",
            b"5 \r\n",
            b"1\r\naXY",
            b"ffffffffffffffffff\r\n",
            b"0\r\n\n",
        ] {
            assert_eq!(scan(bad), Err(BadChunk), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
