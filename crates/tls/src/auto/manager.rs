//! The thread that gets and renews certificates: a task per managed name, started,
//! stopped or restarted as reloads change the plan, each serving its name's certificate
//! (stored, issued, or temporary) through the process's store.
use super::acme::{AcmeIssuer, RenewalWindow};
use super::internal_ca::InternalCa;
use super::managed::ManagedCerts;
use super::plan::{AutoName, AutoPlan, Issuer};
use super::renew_request::RenewRequest;
use super::{generate, renewal, storage};
use crate::certs::unix;
use crate::LoadedCert;
use rustls_pki_types::CertificateDer;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Handle on the certificate thread.
pub struct Manager {
    plan: watch::Sender<AutoPlan>,
    /// Per managed name: a renewal asked of its task (kept while the name is managed).
    renew: Arc<Mutex<HashMap<String, Arc<RenewRequest>>>>,
}

impl Manager {
    /// Starts the thread; what it serves goes into `store` (the process's, which the
    /// handshakes and the HTTP stage read).
    pub fn start(store: Arc<ManagedCerts>) -> std::io::Result<Manager> {
        let (plan, follow) = watch::channel(AutoPlan::default());
        let renew = Arc::new(Mutex::new(HashMap::new()));
        let tasks = renew.clone();
        std::thread::Builder::new().name("forecourt-acme".into()).spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("certificate runtime");
            rt.block_on(supervise(store, follow, tasks));
        })?;
        Ok(Manager { plan, renew })
    }

    /// Manages the names of `plan` from now on.
    pub fn follow(&self, plan: &AutoPlan) {
        self.plan.send_if_modified(|current| {
            let changed = current != plan;
            if changed {
                *current = plan.clone();
            }
            changed
        });
    }

    /// Starts a renewal of `name` now; false when it is not managed.
    pub fn renew(&self, name: &str) -> bool {
        match self.renew.lock().unwrap().get(&name.to_ascii_lowercase()) {
            Some(request) => {
                request.ask();
                true
            }
            None => false,
        }
    }
}

/// The issuer a task orders from.
#[derive(Clone)]
enum IssuerHandle {
    Acme(Arc<AcmeIssuer>),
    Internal(Arc<InternalCa>, PathBuf),
}

impl IssuerHandle {
    fn dir(&self) -> &Path {
        match self {
            IssuerHandle::Acme(acme) => &acme.dir,
            IssuerHandle::Internal(_, dir) => dir,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            IssuerHandle::Acme(_) => "acme",
            IssuerHandle::Internal(..) => "internal",
        }
    }

    async fn issue(
        &self,
        name: &str,
        attempt: u32,
        replaces: Option<&CertificateDer<'_>>,
    ) -> Result<(String, String), String> {
        match self {
            IssuerHandle::Acme(acme) => acme.issue(name, attempt, replaces).await,
            IssuerHandle::Internal(ca, _) => ca.issue(name),
        }
    }

    /// The CA's renewal information for `cert`; `None` when it gives none.
    async fn renewal_info(&self, cert: &LoadedCert) -> Result<Option<RenewalWindow>, String> {
        match self {
            IssuerHandle::Acme(acme) => acme.renewal_info(&cert.key.cert[0]).await,
            IssuerHandle::Internal(..) => Ok(None),
        }
    }
}

/// Keeps one task per managed name, following the plan.
async fn supervise(
    store: Arc<ManagedCerts>,
    mut follow: watch::Receiver<AutoPlan>,
    renew: Arc<Mutex<HashMap<String, Arc<RenewRequest>>>>,
) {
    let mut tasks: HashMap<String, (AutoName, PathBuf, tokio::task::JoinHandle<()>)> = HashMap::new();
    let issuers = Arc::new(Mutex::new(Issuers { store: store.clone(), acme: Vec::new(), internal: None }));
    loop {
        let plan = follow.borrow_and_update().clone();
        let wanted: HashMap<&str, &AutoName> = plan.names.iter().map(|n| (n.name.as_str(), n)).collect();
        tasks.retain(|name, (auto, storage, task)| {
            let keep = wanted.get(name.as_str()).is_some_and(|w| *w == auto && *storage == plan.storage);
            if !keep {
                task.abort();
                // A task started again for the name takes over a renewal asked of this one.
                if !wanted.contains_key(name.as_str()) {
                    renew.lock().unwrap().remove(name);
                    store.forget(name);
                }
            }
            keep
        });
        for auto in &plan.names {
            if tasks.contains_key(&auto.name) {
                continue;
            }
            let request = renew.lock().unwrap().entry(auto.name.clone()).or_default().clone();
            let task = tokio::spawn(keep_certified(
                store.clone(),
                auto.clone(),
                plan.storage.clone(),
                issuers.clone(),
                request,
            ));
            tasks.insert(auto.name.clone(), (auto.clone(), plan.storage.clone(), task));
        }
        if follow.changed().await.is_err() {
            return;
        }
    }
}

/// Issuers by settings, kept across reloads (an ACME account is registered once).
struct Issuers {
    store: Arc<ManagedCerts>,
    acme: Vec<Arc<AcmeIssuer>>,
    internal: Option<(PathBuf, Arc<InternalCa>)>,
}

impl Issuers {
    fn get(&mut self, issuer: &Issuer, storage: &Path) -> Result<IssuerHandle, String> {
        match issuer {
            Issuer::Acme(settings) => {
                let dir = storage::acme_dir(storage, &settings.directory);
                if let Some(found) = self.acme.iter().find(|a| a.settings == *settings && a.dir == dir) {
                    return Ok(IssuerHandle::Acme(found.clone()));
                }
                let acme = Arc::new(AcmeIssuer::new(settings.clone(), storage, self.store.clone()));
                self.acme.push(acme.clone());
                Ok(IssuerHandle::Acme(acme))
            }
            Issuer::Internal => {
                let dir = storage::internal_dir(storage);
                if let Some((at, ca)) = self.internal.as_ref().filter(|(at, _)| *at == dir) {
                    return Ok(IssuerHandle::Internal(ca.clone(), at.clone()));
                }
                let ca = Arc::new(InternalCa::load_or_create(&dir)?);
                tracing::info!(
                    root = %ca.root_path.display(),
                    "local names get certificates from the internal CA; trust its root certificate to use them"
                );
                self.internal = Some((dir.clone(), ca.clone()));
                Ok(IssuerHandle::Internal(ca, dir))
            }
        }
    }
}

/// Serves a temporary self-signed certificate for `name` until a real one is issued: the
/// start of a name's life, so no error is shown yet.
fn serve_temporary(store: &ManagedCerts, name: &str, issuer: &'static str) {
    match generate::self_signed(name) {
        Ok(key) => store.serve(name, key),
        Err(e) => tracing::error!(name, "cannot make a temporary certificate: {e}"),
    }
    store.update_status(name, |s| {
        s.issuer = issuer;
        s.temporary = true;
        s.last_error = None;
    });
}

fn serve_issued(store: &ManagedCerts, name: &str, issuer: &'static str, cert: &LoadedCert) {
    store.serve(name, cert.key.clone());
    store.update_status(name, |s| {
        s.issuer = issuer;
        s.temporary = false;
        s.not_after = Some(unix(cert.not_after));
        s.serial = Some(cert.serial.clone());
    });
}

/// The issuer `auto` names, once it can be set up in `storage`. Until then (an internal CA
/// whose folder cannot be written, say) a temporary certificate serves, and setting it up
/// is tried again after a backoff, or at once when a renewal is requested.
async fn issuer_for(
    store: &ManagedCerts,
    auto: &AutoName,
    storage: &Path,
    issuers: &Mutex<Issuers>,
    request: &RenewRequest,
) -> IssuerHandle {
    let (name, label) = (auto.name.as_str(), auto.issuer.label());
    let mut failures = 0u32;
    loop {
        let set_up = issuers.lock().unwrap().get(&auto.issuer, storage);
        let why = match set_up {
            Ok(issuer) => return issuer,
            Err(why) => why,
        };
        failures += 1;
        tracing::error!(name, issuer = label, failures, "cannot issue certificates: {why}");
        if failures == 1 {
            serve_temporary(store, name, label);
        }
        record_failure(store, name, failures, why);
        let due = SystemTime::now() + renewal::backoff(failures);
        if wait_for_renewal(store, name, due, due, request).await {
            // Asked: set up again now, which answers the ask (left standing, it would end
            // every later wait at once).
            request.done(request.pending());
        }
    }
}

/// Counts a failed attempt for `name` and shows it in the name's status.
fn record_failure(store: &ManagedCerts, name: &str, failures: u32, why: String) {
    store.count_issue(false);
    store.update_status(name, |s| {
        s.failures = failures;
        s.last_error = Some(why);
    });
}

/// Shows `due` as `name`'s next renewal, then waits until `until` (`due` at the latest),
/// or until a renewal of `name` is requested: true then.
async fn wait_for_renewal(
    store: &ManagedCerts,
    name: &str,
    due: SystemTime,
    until: SystemTime,
    request: &RenewRequest,
) -> bool {
    store.update_status(name, |s| s.renew_at = Some(unix(due)));
    let wait = until.min(due).duration_since(SystemTime::now()).unwrap_or_default();
    tokio::select! {
        _ = tokio::time::sleep(wait) => false,
        _ = request.asked() => {
            tracing::info!(name, "renewal requested");
            true
        }
    }
}

/// Waits until `cert` is due for renewal, or a renewal is requested. It is due two thirds
/// into its lifetime or, where the CA gives renewal information (RFC 9773), at a random
/// point of the window the CA suggests. The window is asked for again as often as the CA
/// says, so that one moved earlier (after a revocation, say) is followed. Returns whether
/// the CA gave renewal information, and so takes orders that name what they replace.
async fn until_renewal_due(
    store: &ManagedCerts,
    name: &str,
    issuer: &IssuerHandle,
    cert: &LoadedCert,
    request: &RenewRequest,
) -> bool {
    let by_lifetime = renewal::two_thirds(cert.not_before, cert.not_after);
    let mut drawn: Option<renewal::Drawn> = None;
    let (mut offered, mut errors) = (false, 0u32);
    loop {
        let ask_again = match issuer.renewal_info(cert).await {
            Ok(None) => None,
            Ok(Some(info)) => {
                (offered, errors) = (true, 0);
                drawn = Some(renewal::draw(info.window, drawn));
                Some(SystemTime::now() + renewal::recheck_after(info.ask_again))
            }
            Err(why) => {
                errors += 1;
                tracing::warn!(name, errors, "cannot get the CA's renewal information, asking again later: {why}");
                Some(SystemTime::now() + renewal::backoff(errors))
            }
        };
        let due = drawn.map_or(by_lifetime, |d| d.at);
        let woken = wait_for_renewal(store, name, due, ask_again.unwrap_or(due), request).await;
        if woken || SystemTime::now() >= due {
            return offered;
        }
    }
}

/// One name, for as long as the plan has it: serve what storage holds (or a temporary
/// certificate), then renew when due, or when woken by a forced renewal.
async fn keep_certified(
    store: Arc<ManagedCerts>,
    auto: AutoName,
    storage: PathBuf,
    issuers: Arc<Mutex<Issuers>>,
    request: Arc<RenewRequest>,
) {
    let store = &*store;
    let issuer = issuer_for(store, &auto, &storage, &issuers, &request).await;
    let name = auto.name;
    let label = issuer.label();
    let mut current = match storage::load_cert(issuer.dir(), &name) {
        Ok(Some(cert)) => {
            tracing::info!(name, issuer = label, "using the stored certificate");
            serve_issued(store, &name, label, &cert);
            Some(cert)
        }
        Ok(None) => None,
        Err(why) => {
            tracing::warn!(name, issuer = label, "the stored certificate cannot be used ({why}); ordering a new one");
            None
        }
    };
    if current.is_none() {
        tracing::warn!(
            name,
            issuer = label,
            "no certificate yet: serving a temporary self-signed one until it is issued"
        );
        serve_temporary(store, &name, label);
    }
    let mut failures = 0u32;
    // Whether the CA gave renewal information for `current`.
    let mut replaceable = false;
    loop {
        match &current {
            Some(cert) if failures == 0 => replaceable = until_renewal_due(store, &name, &issuer, cert, &request).await,
            _ => {
                let wait = if failures > 0 { renewal::backoff(failures) } else { Duration::ZERO };
                let due = SystemTime::now() + wait;
                wait_for_renewal(store, &name, due, due, &request).await;
            }
        }
        let replaces = current.as_ref().filter(|_| replaceable).map(|cert| &cert.key.cert[0]);
        // What was asked until now is answered by this order, whatever its outcome.
        let asked = request.pending();
        let ordered = obtain(&name, &issuer, failures, replaces).await;
        request.done(asked);
        match ordered {
            Ok(cert) => {
                tracing::info!(name, issuer = label, serial = %cert.serial, expires = unix(cert.not_after), "certificate issued");
                serve_issued(store, &name, label, &cert);
                store.update_status(&name, |s| {
                    s.failures = 0;
                    s.last_error = None;
                });
                store.count_issue(true);
                current = Some(cert);
                failures = 0;
                replaceable = false;
            }
            Err(why) => {
                failures += 1;
                record_failure(store, &name, failures, why.clone());
                let serving = if current.is_some() { "the current certificate" } else { "a temporary certificate" };
                tracing::error!(
                    name,
                    issuer = label,
                    failures,
                    "cannot get a certificate, still serving {serving}: {why}"
                );
            }
        }
    }
}

/// Issues, stores, and reads back what was stored (so what serves is what a restart finds).
async fn obtain(
    name: &str,
    issuer: &IssuerHandle,
    attempt: u32,
    replaces: Option<&CertificateDer<'_>>,
) -> Result<LoadedCert, String> {
    let (chain, key) = issuer.issue(name, attempt, replaces).await?;
    storage::save_cert(issuer.dir(), name, &chain, &key)?;
    storage::load_cert(issuer.dir(), name)?.ok_or_else(|| "the stored certificate vanished".into())
}
