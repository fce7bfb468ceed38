//! The two signed strings of a challenge, both `PAYLOAD.MAC` in unpadded base64url: the
//! puzzle a challenge page is handed, and the pass a solved puzzle earns (the cookie).
//! Each MAC covers its kind, its payload and the client's address key, so a string taken
//! to another address (or a puzzle offered as a pass) is worth nothing. A puzzle is
//! solved by a nonce (decimal digits) that gives `SHA-256(puzzle || nonce)` at least
//! `difficulty` leading zero bits: one hash to check, about 2^difficulty to find.
use super::keys::{Keys, MAC_LEN};
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

const VERSION: u8 = 1;
/// version, issued (s), key period, difficulty, id.
const PUZZLE_LEN: usize = 1 + 8 + 4 + 1 + 16;
/// version, expires (s), key period.
const PASS_LEN: usize = 1 + 8 + 4;

/// Why a puzzle, a solution or a pass is refused (the access log's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    /// Its MAC is wrong: made up, altered, or bound to another address.
    Forged,
    Expired,
    /// A puzzle's solution already used.
    Replayed,
    /// The nonce does not solve the puzzle.
    Unsolved,
    /// The no-JavaScript wait was not waited out.
    TooEarly,
}

impl Refusal {
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Forged => "forged",
            Refusal::Expired => "expired",
            Refusal::Replayed => "replayed",
            Refusal::Unsolved => "unsolved",
            Refusal::TooEarly => "too_early",
        }
    }
}

/// A puzzle whose MAC held.
#[derive(Debug)]
pub struct Puzzle {
    pub issued: u64,
    pub difficulty: u8,
    pub id: [u8; 16],
}

/// A new puzzle for the client whose address key is `client`.
pub fn issue_puzzle(keys: &Keys, client: u128, now: u64, difficulty: u8) -> String {
    let mut payload = [0u8; PUZZLE_LEN];
    let epoch = keys.epoch(now);
    payload[0] = VERSION;
    payload[1..9].copy_from_slice(&now.to_be_bytes());
    payload[9..13].copy_from_slice(&epoch.to_be_bytes());
    payload[13] = difficulty;
    SystemRandom::new().fill(&mut payload[14..]).expect("the system's random source");
    sign(keys, epoch, b"puzzle", &payload, client)
}

/// The puzzle `text` if its MAC holds for `client` and it is younger than `max_age` secs.
pub fn open_puzzle(keys: &Keys, client: u128, text: &str, now: u64, max_age: u64) -> Result<Puzzle, Refusal> {
    let payload: [u8; PUZZLE_LEN] = open(keys, b"puzzle", text, client, |p| be32(&p[9..13]))?;
    let issued = be64(&payload[1..9]);
    if issued > now + 5 || now > issued + max_age {
        return Err(Refusal::Expired);
    }
    let mut id = [0; 16];
    id.copy_from_slice(&payload[14..]);
    Ok(Puzzle { issued, difficulty: payload[13], id })
}

/// Whether `nonce` (decimal digits, as the page's worker sends it) solves `puzzle`.
pub fn solves(puzzle: &str, nonce: &str, difficulty: u8) -> bool {
    if nonce.is_empty() || nonce.len() > 20 || !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(puzzle.as_bytes());
    ctx.update(nonce.as_bytes());
    leading_zero_bits(ctx.finish().as_ref()) >= u32::from(difficulty)
}

/// What the page's worker does: the first nonce that solves `puzzle` (for tests, and for
/// an operator's scripted client).
pub fn solve(puzzle: &str, difficulty: u8) -> String {
    (0u64..).map(|n| n.to_string()).find(|n| solves(puzzle, n, difficulty)).unwrap_or_default()
}

/// A pass for `client`, good until `expires` (Unix seconds).
pub fn issue_pass(keys: &Keys, client: u128, now: u64, expires: u64) -> String {
    let mut payload = [0u8; PASS_LEN];
    let epoch = keys.epoch(now);
    payload[0] = VERSION;
    payload[1..9].copy_from_slice(&expires.to_be_bytes());
    payload[9..13].copy_from_slice(&epoch.to_be_bytes());
    sign(keys, epoch, b"pass", &payload, client)
}

/// Whether `text` is a pass for `client` that has not expired. A pass signed in period E
/// can last at most `longest` seconds past E's end, so that a period's key, once found
/// out, cannot sign passes that outlive it by more.
pub fn check_pass(keys: &Keys, client: u128, text: &str, now: u64, longest: u64) -> Result<(), Refusal> {
    let payload: [u8; PASS_LEN] = open(keys, b"pass", text, client, |p| be32(&p[9..13]))?;
    let (expires, epoch) = (be64(&payload[1..9]), be32(&payload[9..13]));
    if expires <= now || expires > keys.epoch_end(epoch) + longest || epoch > keys.epoch(now) {
        return Err(Refusal::Expired);
    }
    Ok(())
}

fn sign(keys: &Keys, epoch: u32, kind: &[u8], payload: &[u8], client: u128) -> String {
    let mac = keys.mac(epoch, &[kind, payload, &client.to_be_bytes()]);
    format!("{}.{}", B64.encode(payload), B64.encode(mac))
}

/// The payload of `text` if it has the right shape, version and MAC.
fn open<const N: usize>(
    keys: &Keys,
    kind: &[u8],
    text: &str,
    client: u128,
    epoch_of: impl Fn(&[u8; N]) -> u32,
) -> Result<[u8; N], Refusal> {
    let (payload, mac) = text.split_once('.').ok_or(Refusal::Malformed)?;
    if payload.len() > 64 || mac.len() > 32 {
        return Err(Refusal::Malformed);
    }
    // Decoded on the stack: a pass is checked on every request of a challenged route.
    // (64 and 32 base64 characters are at most 48 and 24 bytes.)
    let (mut p_buf, mut m_buf) = ([0u8; 48], [0u8; 24]);
    let (Ok(p_len), Ok(m_len)) = (B64.decode_slice(payload, &mut p_buf), B64.decode_slice(mac, &mut m_buf)) else {
        return Err(Refusal::Malformed);
    };
    let Ok(p) = <[u8; N]>::try_from(&p_buf[..p_len]) else { return Err(Refusal::Malformed) };
    let m = &m_buf[..m_len];
    if m.len() != MAC_LEN || p[0] != VERSION {
        return Err(Refusal::Malformed);
    }
    match keys.verify(epoch_of(&p), &[kind, &p, &client.to_be_bytes()], m) {
        true => Ok(p),
        false => Err(Refusal::Forged),
    }
}

fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for b in hash {
        bits += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    bits
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap_or_default())
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_puzzle_is_bound_to_its_client_and_solved_by_work() {
        let keys = Keys::random();
        let p = issue_puzzle(&keys, 7, NOW, 8);
        let opened = open_puzzle(&keys, 7, &p, NOW + 10, 300).unwrap();
        assert_eq!((opened.issued, opened.difficulty), (NOW, 8));
        assert_eq!(open_puzzle(&keys, 8, &p, NOW, 300).unwrap_err(), Refusal::Forged, "another address");
        assert_eq!(open_puzzle(&keys, 7, &p, NOW + 301, 300).unwrap_err(), Refusal::Expired);
        let mut altered = p.clone().into_bytes();
        altered[5] = if altered[5] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(matches!(open_puzzle(&keys, 7, &altered, NOW, 300), Err(Refusal::Forged | Refusal::Malformed)));
        assert_eq!(open_puzzle(&keys, 7, "nonsense", NOW, 300).unwrap_err(), Refusal::Malformed);
        let nonce = solve(&p, 8);
        assert!(solves(&p, &nonce, 8));
        assert!(!solves(&p, "12a", 0) && !solves(&p, "", 0));
        // About 1 in 2^8 nonces solves it: most do not.
        assert!((0..64).filter(|n| solves(&p, &n.to_string(), 8)).count() < 8);
    }

    #[test]
    fn a_pass_holds_for_its_client_until_it_expires() {
        let keys = Keys::random();
        let pass = issue_pass(&keys, 7, NOW, NOW + 3600);
        assert_eq!(check_pass(&keys, 7, &pass, NOW + 10, 3600), Ok(()));
        assert_eq!(check_pass(&keys, 9, &pass, NOW + 10, 3600), Err(Refusal::Forged), "wrongly bound");
        assert_eq!(check_pass(&keys, 7, &pass, NOW + 3600, 3600), Err(Refusal::Expired));
        assert_eq!(check_pass(&Keys::random(), 7, &pass, NOW, 3600), Err(Refusal::Forged), "another secret");
        let puzzle = issue_puzzle(&keys, 7, NOW, 8);
        assert!(check_pass(&keys, 7, &puzzle, NOW, 3600).is_err(), "a puzzle is no pass");
        let too_long = issue_pass(&keys, 7, NOW, NOW + 10 * 86_400);
        assert_eq!(check_pass(&keys, 7, &too_long, NOW + 10, 3600), Err(Refusal::Expired));
    }

    #[test]
    fn checking_costs_microseconds() {
        let keys = Keys::random();
        let pass = issue_pass(&keys, 7, NOW, NOW + 3600);
        let p = issue_puzzle(&keys, 7, NOW, 8);
        let nonce = solve(&p, 8);
        let t = std::time::Instant::now();
        for _ in 0..1000 {
            assert!(check_pass(&keys, 7, &pass, NOW, 3600).is_ok());
            assert!(open_puzzle(&keys, 7, &p, NOW, 300).is_ok() && solves(&p, &nonce, 8));
        }
        let each = t.elapsed() / 1000;
        // Generous for a debug build on a busy machine; a release build takes a few µs.
        assert!(each.as_micros() < 500, "{each:?}");
    }
}
