//! What TLS keeps for the whole process, across reloads: the session store clients resume
//! from, the rotating ticket keys of a period, and the automatic certificates. One value,
//! owned by the binary and handed to every compile, so that a client resumes on any worker
//! and after a reload, and a reload keeps the certificates it still names.
use crate::auto::ManagedCerts;
use crate::sessions::{SessionCache, SESSION_LIFETIME};
use crate::tickets::own_rotating_tickets;
use rustls::server::ProducesTickets;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The sessions a store keeps: about as many as nginx keeps in the 10 MB
/// `ssl_session_cache` of Mozilla's configuration.
const SHARED_SESSIONS: usize = 40_000;

pub struct TlsState {
    /// Automatic certificates and pending challenge answers.
    pub managed: Arc<ManagedCerts>,
    /// The sessions clients resume (`session_resumption`, without tickets).
    sessions: Arc<SessionCache>,
    /// The ticket keys of the period in use (`session_tickets = true`); a reload that keeps
    /// the period keeps the keys.
    tickets: Mutex<Option<(Duration, Arc<dyn ProducesTickets>)>>,
}

impl Default for TlsState {
    fn default() -> Self {
        TlsState {
            managed: Arc::default(),
            sessions: Arc::new(SessionCache::new(SHARED_SESSIONS, SESSION_LIFETIME)),
            tickets: Mutex::new(None),
        }
    }
}

impl TlsState {
    /// The process's session store.
    pub(crate) fn sessions(&self) -> Arc<SessionCache> {
        self.sessions.clone()
    }

    /// Tickets whose key changes every `rotation`, one rotator per period: every worker
    /// opens the others' tickets, and a reload that keeps the period keeps the keys.
    pub fn rotating_tickets(&self, rotation: Duration) -> Result<Arc<dyn ProducesTickets>, String> {
        let mut shared = self.tickets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, tickets)) = shared.as_ref().filter(|(period, _)| *period == rotation) {
            return Ok(tickets.clone());
        }
        let tickets = own_rotating_tickets(rotation)?;
        *shared = Some((rotation, tickets.clone()));
        Ok(tickets)
    }
}
