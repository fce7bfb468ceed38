//! What the rest of the process reads of automatic certificates: the certificate served
//! for each managed name (handshakes), the answers to pending challenges (handshakes for
//! TLS-ALPN-01, the HTTP stage for HTTP-01), and each name's status (admin API, metrics,
//! logs). One store for the process: it outlives reloads, like the certificates it holds.
use rustls::sign::CertifiedKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The process's store of automatic certificates: one, owned by the binary (through
/// `TlsState`), read by the handshakes, the HTTP stage, the admin API and metrics.
#[derive(Default)]
pub struct ManagedCerts {
    /// Read at handshakes: replaced whole, so a lookup takes no lock.
    served: arc_swap::ArcSwap<HashMap<String, Arc<CertifiedKey>>>,
    /// Serialises changes to `served`.
    writing: Mutex<()>,
    /// TLS-ALPN-01: the validation certificate for a name being validated.
    alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01: the key authorization for a token.
    http: RwLock<HashMap<String, String>>,
    /// How many HTTP-01 challenges are pending; while none is, requests skip the lookup.
    http_pending: AtomicUsize,
    status: Mutex<BTreeMap<String, NameStatus>>,
    /// Challenges answered: HTTP-01, TLS-ALPN-01.
    answered: [AtomicU64; 2],
    /// Orders (and internal issuances) that succeeded, failed.
    issued: [AtomicU64; 2],
}

/// One managed name, as the admin API and metrics show it.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct NameStatus {
    pub issuer: &'static str,
    /// Serving a temporary self-signed certificate: none was issued yet.
    pub temporary: bool,
    /// Unix seconds.
    pub not_after: Option<u64>,
    /// When the next renewal starts (Unix seconds).
    pub renew_at: Option<u64>,
    /// Failed attempts in a row.
    pub failures: u32,
    pub last_error: Option<String>,
    /// Hex serial number of the certificate served.
    pub serial: Option<String>,
}

impl ManagedCerts {
    /// The certificate served for `name` (lower case).
    pub fn get(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.served.load().get(name).cloned()
    }

    /// Whether `name` is managed here.
    pub fn covers(&self, name: &str) -> bool {
        self.served.load().contains_key(name)
    }

    pub(crate) fn serve(&self, name: &str, key: Arc<CertifiedKey>) {
        let _one = self.writing.lock().unwrap();
        let mut next = HashMap::clone(&self.served.load());
        next.insert(name.to_string(), key);
        self.served.store(Arc::new(next));
    }

    /// Stops managing `name` (no longer in the config).
    pub(crate) fn forget(&self, name: &str) {
        let _one = self.writing.lock().unwrap();
        let mut next = HashMap::clone(&self.served.load());
        next.remove(name);
        self.served.store(Arc::new(next));
        self.status.lock().unwrap().remove(name);
    }

    /// The TLS-ALPN-01 validation certificate for `name`, while its challenge is pending.
    pub fn alpn_challenge(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let found = self.alpn.read().unwrap().get(name).cloned();
        if found.is_some() {
            self.answered[1].fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    pub(crate) fn set_alpn_challenge(&self, name: &str, key: Option<Arc<CertifiedKey>>) {
        let mut alpn = self.alpn.write().unwrap();
        match key {
            Some(key) => alpn.insert(name.to_string(), key),
            None => alpn.remove(name),
        };
    }

    /// The answer to an HTTP-01 request for `path`, when it is one for a pending challenge.
    pub fn http_challenge(&self, path: &str) -> Option<String> {
        if self.http_pending.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let token = path.strip_prefix(super::HTTP_CHALLENGE_PATH)?;
        let found = self.http.read().unwrap().get(token).cloned();
        if found.is_some() {
            self.answered[0].fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Publishes (or, with `None`, withdraws) the answer to the HTTP-01 challenge `token`.
    pub fn set_http_challenge(&self, token: &str, key_authorization: Option<String>) {
        let mut http = self.http.write().unwrap();
        match key_authorization {
            Some(answer) => http.insert(token.to_string(), answer),
            None => http.remove(token),
        };
        self.http_pending.store(http.len(), Ordering::Relaxed);
    }

    pub(crate) fn update_status(&self, name: &str, f: impl FnOnce(&mut NameStatus)) {
        f(self.status.lock().unwrap().entry(name.to_string()).or_default());
    }

    pub(crate) fn count_issue(&self, ok: bool) {
        self.issued[usize::from(!ok)].fetch_add(1, Ordering::Relaxed);
    }

    /// Every managed name and its status, by name.
    pub fn statuses(&self) -> BTreeMap<String, NameStatus> {
        self.status.lock().unwrap().clone()
    }

    /// Challenges answered so far: HTTP-01, TLS-ALPN-01.
    pub fn answered(&self) -> [u64; 2] {
        self.answered.each_ref().map(|n| n.load(Ordering::Relaxed))
    }

    /// Issuances that succeeded, failed.
    pub fn issued(&self) -> [u64; 2] {
        self.issued.each_ref().map(|n| n.load(Ordering::Relaxed))
    }
}
