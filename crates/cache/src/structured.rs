//! Whether a field is a valid Structured Field Dictionary (RFC 8941 §3.2), as RFC 9213
//! requires of `CDN-Cache-Control` and other targeted fields: one that is not is ignored
//! whole, so that a garbled targeted field cannot override `Cache-Control`.

/// Whether `text` (a field's lines joined with commas) parses as a dictionary.
pub fn is_dictionary(text: &str) -> bool {
    let mut p = Parser { s: text.as_bytes(), at: 0 };
    p.skip(b' ');
    if p.done() {
        return true;
    }
    loop {
        if !(p.key() && p.member_value() && p.parameters()) {
            return false;
        }
        p.skip_ows();
        if p.done() {
            return true;
        }
        if !p.eat(b',') {
            return false;
        }
        p.skip_ows();
        if p.done() {
            return false; // a trailing comma
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn done(&self) -> bool {
        self.at >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    fn skip(&mut self, b: u8) {
        while self.eat(b) {}
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.at;
        while self.peek().is_some_and(&f) {
            self.at += 1;
        }
        self.at - start
    }

    /// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`
    fn key(&mut self) -> bool {
        if !matches!(self.peek(), Some(b'a'..=b'z' | b'*')) {
            return false;
        }
        self.take_while(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'));
        true
    }

    /// `"=" (bare-item / inner-list)`, or nothing (the value `true`).
    fn member_value(&mut self) -> bool {
        if !self.eat(b'=') {
            return true;
        }
        if self.eat(b'(') {
            loop {
                self.skip(b' ');
                if self.eat(b')') {
                    return true;
                }
                if !(self.bare_item() && self.parameters() && matches!(self.peek(), Some(b' ' | b')'))) {
                    return false;
                }
            }
        }
        self.bare_item()
    }

    /// `*( ";" *SP key [ "=" bare-item ] )`
    fn parameters(&mut self) -> bool {
        while self.eat(b';') {
            self.skip(b' ');
            if !self.key() || (self.eat(b'=') && !self.bare_item()) {
                return false;
            }
        }
        true
    }

    /// An integer or decimal, a string, a token, a byte sequence or a boolean.
    fn bare_item(&mut self) -> bool {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                self.eat(b'-');
                let whole = self.take_while(|c| c.is_ascii_digit());
                if self.eat(b'.') {
                    let fraction = self.take_while(|c| c.is_ascii_digit());
                    (1..=12).contains(&whole) && (1..=3).contains(&fraction)
                } else {
                    (1..=15).contains(&whole)
                }
            }
            Some(b'"') => {
                self.at += 1;
                loop {
                    match self.peek() {
                        Some(b'"') => {
                            self.at += 1;
                            return true;
                        }
                        Some(b'\\') if matches!(self.s.get(self.at + 1), Some(b'"' | b'\\')) => self.at += 2,
                        Some(0x20..=0x7e) => self.at += 1,
                        _ => return false,
                    }
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                self.take_while(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c));
                true
            }
            Some(b':') => {
                self.at += 1;
                self.take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='));
                self.eat(b':')
            }
            Some(b'?') => {
                self.at += 1;
                self.eat(b'0') || self.eat(b'1')
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_dictionary;

    #[test]
    fn dictionaries_and_what_is_not_one() {
        for good in ["max-age=60", "max-age=60, private", "foobar, max-age=3600", "a=\"x\";q=1, b=(1 2), c=?0", ""] {
            assert!(is_dictionary(good), "{good}");
        }
        for bad in ["max-age=60, &&&&&", "MaX-aGe=60", "max-age =60", "max-age= 60", "max-age=60,", "a=1 b", "a=\"x"] {
            assert!(!is_dictionary(bad), "{bad}");
        }
    }
}
