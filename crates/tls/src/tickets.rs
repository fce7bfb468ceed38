//! Stateless session tickets (`[tls] session_tickets = true`): the session itself, sealed
//! with AES-256-GCM under a random key that only this process holds. The key is replaced
//! every `ticket_key_rotation` and the one before it still opens tickets, so a ticket
//! resumes for at most two periods, and a stolen key exposes at most that much.
//!
//! rustls's `TicketRotator` does the rotation; the key is ours rather than rustls's
//! `Ticketer`, whose rotation period is fixed at six hours.
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use rustls::server::ProducesTickets;
use rustls::TicketRotator;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The period a ticket key seals new tickets for when `ticket_key_rotation` is not given
/// (rustls's and about Caddy's choice).
pub const DEFAULT_ROTATION: Duration = Duration::from_secs(6 * 60 * 60);

/// The key's name leads every ticket, so one sealed under another key is refused before
/// any decryption.
const NAME_LEN: usize = 16;

/// One ticket key: a name and an AES-256-GCM key, both random.
struct TicketKey {
    name: [u8; NAME_LEN],
    key: LessSafeKey,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey")
    }
}

impl TicketKey {
    fn random() -> Result<Self, rustls::crypto::GetRandomFailed> {
        let mut name = [0u8; NAME_LEN];
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut name).map_err(|_| rustls::crypto::GetRandomFailed)?;
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| rustls::crypto::GetRandomFailed)?;
        let key = UnboundKey::new(&AES_256_GCM, &secret).map_err(|_| rustls::crypto::GetRandomFailed)?;
        Ok(TicketKey { name, key: LessSafeKey::new(key) })
    }
}

/// A ticket is `name ‖ nonce ‖ sealed session ‖ tag`, the name authenticated too.
impl ProducesTickets for TicketKey {
    fn enabled(&self) -> bool {
        true
    }

    /// Not used: the rotator states the lifetime of every ticket.
    fn lifetime(&self) -> u32 {
        0
    }

    fn encrypt(&self, session: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        // One buffer, sealed in place.
        let mut ticket = Vec::with_capacity(NAME_LEN + NONCE_LEN + session.len() + AES_256_GCM.tag_len());
        ticket.extend_from_slice(&self.name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(session);
        let nonce = Nonce::assume_unique_for_key(nonce);
        let sealed = &mut ticket[NAME_LEN + NONCE_LEN..];
        let tag = self.key.seal_in_place_separate_tag(nonce, Aad::from(&self.name), sealed).ok()?;
        ticket.extend_from_slice(tag.as_ref());
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let rest = ticket.strip_prefix(&self.name[..])?;
        if rest.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut opened = sealed.to_vec();
        let len = self.key.open_in_place(nonce, Aad::from(&self.name), &mut opened).ok()?.len();
        opened.truncate(len);
        Some(opened)
    }
}

/// Tickets with keys of their own: the process's shared ones come from
/// [`crate::TlsState::rotating_tickets`]; listeners that verify client certificates get
/// their own (a session resumed there must have been verified there).
pub fn own_rotating_tickets(rotation: Duration) -> Result<Arc<dyn ProducesTickets>, String> {
    let secs = u32::try_from(rotation.as_secs().max(1)).map_err(|_| "ticket_key_rotation is too long".to_string())?;
    let generator = || TicketKey::random().map(|key| Box::new(key) as Box<dyn ProducesTickets>);
    let rotator: Arc<dyn ProducesTickets> =
        Arc::new(TicketRotator::new(secs, generator).map_err(|e| format!("session tickets: {e}"))?);
    erase_on_time(Arc::downgrade(&rotator), rotation.clamp(Duration::from_secs(1), Duration::from_secs(60)));
    Ok(rotator)
}

/// The rotator replaces a key only when a ticket is sealed or opened, one step at a time,
/// so on a quiet server an old key would live on. A thread nudges it every `every` (a
/// failed opening checks the time first) for as long as the rotator is in use.
fn erase_on_time(rotator: Weak<dyn ProducesTickets>, every: Duration) {
    let spawned = std::thread::Builder::new().name("ticket-keys".into()).spawn(move || loop {
        std::thread::sleep(every);
        match rotator.upgrade() {
            Some(rotator) => drop(rotator.decrypt(&[])),
            None => return,
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("session tickets: no thread to replace their keys on time ({e}); keys change at use only");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_under_its_own_key_only_and_untouched() {
        let key = TicketKey::random().unwrap();
        let ticket = key.encrypt(b"session state").unwrap();
        assert_eq!(key.decrypt(&ticket).as_deref(), Some(&b"session state"[..]));
        // Sealed, not merely signed.
        assert!(!ticket.windows(7).any(|w| w == b"session"));
        // Two tickets of one session differ (a fresh nonce each).
        assert_ne!(ticket, key.encrypt(b"session state").unwrap());
        let other = TicketKey::random().unwrap();
        assert_eq!(other.decrypt(&ticket), None);
        for at in [0, NAME_LEN, NAME_LEN + NONCE_LEN, ticket.len() - 1] {
            let mut bent = ticket.clone();
            bent[at] ^= 1;
            assert_eq!(key.decrypt(&bent), None, "a ticket changed at byte {at} was opened");
        }
        assert_eq!(key.decrypt(&ticket[..NAME_LEN + 3]), None);
    }

    #[test]
    fn workers_and_reloads_share_the_keys_of_one_period() {
        let period = Duration::from_secs(3 * 60 * 60);
        let state = crate::TlsState::default();
        let a = state.rotating_tickets(period).unwrap();
        let b = state.rotating_tickets(period).unwrap();
        let ticket = a.encrypt(b"s").unwrap();
        assert_eq!(b.decrypt(&ticket).as_deref(), Some(&b"s"[..]));
        // Tickets say they live two periods: the key's own and the next one's.
        assert_eq!(a.lifetime(), 6 * 60 * 60);
        assert_eq!(own_rotating_tickets(period).unwrap().decrypt(&ticket), None);
    }
}
