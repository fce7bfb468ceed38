//! The automatic certificates API: `GET /api/certificates` lists every managed name with
//! its issuer, expiry, next renewal and last error; `POST /api/certificates/NAME/renew`
//! starts a renewal now (the current certificate serves until the new one is ready).
use forecourt_tls::auto::ManagedCerts;
use std::sync::Arc;

/// Starts a renewal of a managed name; false when the name is not managed.
pub type RenewFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub fn list(store: &ManagedCerts) -> serde_json::Value {
    serde_json::to_value(store.statuses()).unwrap_or_default()
}

/// `rest`: what follows `/api/certificates/`, i.e. `NAME/renew`.
pub fn renew(renew: &RenewFn, rest: &str) -> Result<String, String> {
    match rest.split_once('/') {
        Some((name, "renew")) if renew(name) => Ok(format!("renewing {name}")),
        Some((name, "renew")) => Err(format!("{name} has no automatic certificate")),
        _ => Err("use POST /api/certificates/NAME/renew".into()),
    }
}
