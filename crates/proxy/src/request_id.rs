//! Request ids: kept from the client when well-formed, otherwise made here.
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A name, not a string: looking a string up hashes its parse first, on every request.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

thread_local! {
    static NEXT: Cell<u64> = const { Cell::new(0) };
}

/// A random per-process prefix, so ids from different runs and workers do not collide.
fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().build_hasher().finish())
}

/// The client's id if it is 1 to 128 characters of `[A-Za-z0-9._-]`, else a new one.
///
/// The value is marked never-indexed for HPACK (RFC 7541 §7.1.3): an id is unique per
/// request, so in an HTTP/2 connection's header table it would only evict entries that
/// repeat, and the h2 encoder compares each new value with every id already there.
pub fn take_or_make(headers: &HeaderMap, worker: usize) -> HeaderValue {
    // A pass over the few names (a custom one against standard ones differs by its tag)
    // rather than a hash of the name on every request.
    let sent = headers.iter().find_map(|(name, value)| (*name == HEADER).then_some(value));
    let mut id = sent.filter(|v| is_well_formed(v.as_bytes())).cloned().unwrap_or_else(|| make(worker));
    id.set_sensitive(true);
    id
}

fn is_well_formed(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= 128 && id.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn make(worker: usize) -> HeaderValue {
    let n = NEXT.with(|c| {
        let n = c.get();
        c.set(n + 1);
        n
    });
    let prefix = seed() ^ ((worker as u64) << 48);
    let mut buf = [0u8; 28];
    hex(&mut buf[..16], prefix);
    hex(&mut buf[16..], n);
    HeaderValue::from_bytes(&buf).expect("hex is a valid header value")
}

fn hex(out: &mut [u8], mut v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(v & 15) as usize];
        v >>= 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_valid_and_replaces_invalid() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("abc-123"));
        assert_eq!(take_or_make(&h, 0), "abc-123");
        h.insert(HEADER, HeaderValue::from_static("bad id!"));
        let made = take_or_make(&h, 0);
        assert_eq!(made.len(), 28);
        assert_ne!(made, take_or_make(&h, 0));
        assert!(made.is_sensitive(), "kept out of HPACK's table");
    }
}
