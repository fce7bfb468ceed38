//! The ACME issuer: one account per directory (created on first use, kept in storage),
//! and one order per name, validated by HTTP-01 or TLS-ALPN-01 answered by this process.
use super::managed::ManagedCerts;
use super::plan::{AcmeSettings, ChallengeKind};
use super::{generate, storage};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeType, ExternalAccountKey,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls_pki_types::CertificateDer;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long the CA may take to validate, and then to sign.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

pub struct AcmeIssuer {
    pub settings: Arc<AcmeSettings>,
    /// `STORAGE/acme/DIRECTORY`.
    pub dir: PathBuf,
    account: tokio::sync::Mutex<Option<Account>>,
    /// Where challenge answers are published for the handshakes and the HTTP stage.
    store: Arc<ManagedCerts>,
}

impl AcmeIssuer {
    pub fn new(settings: Arc<AcmeSettings>, storage: &std::path::Path, store: Arc<ManagedCerts>) -> AcmeIssuer {
        let dir = storage::acme_dir(storage, &settings.directory);
        AcmeIssuer { settings, dir, account: tokio::sync::Mutex::new(None), store }
    }

    /// The account: from storage, else registered now (and stored).
    async fn account(&self) -> Result<Account, String> {
        let mut held = self.account.lock().await;
        if let Some(account) = held.as_ref() {
            return Ok(account.clone());
        }
        let directory = &self.settings.directory;
        let http = || super::http_client::AcmeHttp::new(self.settings.ca_bundle.as_deref()).map(Box::new);
        let path = self.dir.join("account.json");
        let account = match std::fs::read(&path) {
            Ok(bytes) => {
                let credentials: AccountCredentials = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: not an ACME account: {e}", path.display()))?;
                Account::builder_with_http(http()?)
                    .from_credentials(credentials)
                    .await
                    .map_err(|e| format!("ACME directory {directory}: {e}"))?
            }
            Err(_) => {
                let contact: Vec<String> = self.settings.email.iter().map(|e| format!("mailto:{e}")).collect();
                let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
                let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
                let eab = self.settings.eab.as_ref().map(|(kid, key)| ExternalAccountKey::new(kid.clone(), key));
                let (account, credentials) = Account::builder_with_http(http()?)
                    .create(&new, directory.clone(), eab.as_ref())
                    .await
                    .map_err(|e| format!("ACME directory {directory}: cannot register an account: {e}"))?;
                let json = serde_json::to_vec(&credentials).map_err(|e| e.to_string())?;
                storage::write_private(&path, &json)?;
                tracing::info!(directory = %directory, account = account.id(), "registered an ACME account");
                account
            }
        };
        *held = Some(account.clone());
        Ok(account)
    }

    /// Orders a certificate for `name`; `attempt` (0 first) picks the challenge, so that a
    /// failed one is not simply repeated. `replaces` names the certificate this one renews,
    /// for a CA that gives renewal information (RFC 9773, section 5: such renewals may be
    /// exempt from its rate limits). Returns the chain and key, PEM.
    pub async fn issue(
        &self,
        name: &str,
        attempt: u32,
        replaces: Option<&CertificateDer<'_>>,
    ) -> Result<(String, String), String> {
        let account = self.account().await?;
        let identifiers = [Identifier::Dns(name.to_string())];
        let plain = NewOrder::new(&identifiers);
        let replacing = replaces.and_then(|leaf| CertificateIdentifier::try_from(leaf).ok());
        let ordered = match replacing {
            Some(id) => match account.new_order(&NewOrder::new(&identifiers).replaces(id)).await {
                Ok(order) => Ok(order),
                // Already replaced by an order whose certificate was never stored, say:
                // a renewal must not fail for the hint.
                Err(e) => {
                    tracing::warn!(name, "the CA refused the order as a replacement ({e}); ordering without");
                    account.new_order(&plain).await
                }
            },
            None => account.new_order(&plain).await,
        };
        let mut order = ordered.map_err(|e| format!("new order: {e}"))?;
        let preferred = &self.settings.challenges;
        let mut answering = Vec::new();
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| format!("authorization: {e}"))?;
            match authz.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => return Err(format!("authorization is {other:?}")),
            }
            let offered: Vec<ChallengeKind> = preferred
                .iter()
                .copied()
                .filter(|kind| authz.challenges.iter().any(|c| c.r#type == challenge_type(*kind)))
                .collect();
            let Some(kind) = offered.get(attempt as usize % offered.len().max(1)).copied() else {
                return Err("the CA offers none of the configured challenges".into());
            };
            let mut challenge = authz.challenge(challenge_type(kind)).ok_or("challenge vanished")?;
            let key_authorization = challenge.key_authorization();
            answering.push(Answer::set(&self.store, kind, name, &challenge.token, &key_authorization)?);
            tracing::info!(name, challenge = kind.label(), "answering the ACME challenge");
            challenge.set_ready().await.map_err(|e| format!("{}: {e}", kind.label()))?;
        }
        let retries = RetryPolicy::new().timeout(ORDER_TIMEOUT);
        let status = order.poll_ready(&retries).await.map_err(|e| format!("validation: {e}"))?;
        if status != OrderStatus::Ready {
            return Err(format!("validation failed: {}", why_invalid(&mut order).await));
        }
        let key_pem = order.finalize().await.map_err(|e| format!("finalize: {e}"))?;
        let chain_pem = order.poll_certificate(&retries).await.map_err(|e| format!("certificate: {e}"))?;
        drop(answering);
        Ok((chain_pem, key_pem))
    }

    /// The window in which the CA suggests renewing `leaf`, and how soon to ask again
    /// (RFC 9773); `None` when the CA gives no renewal information.
    pub async fn renewal_info(&self, leaf: &CertificateDer<'_>) -> Result<Option<RenewalWindow>, String> {
        let id = CertificateIdentifier::try_from(leaf).map_err(|e| format!("no certificate identifier: {e}"))?;
        let account = self.account().await?;
        match account.renewal_info(&id).await {
            Ok((info, ask_again)) => {
                let window = (info.suggested_window.start.into(), info.suggested_window.end.into());
                Ok(Some(RenewalWindow { window, ask_again }))
            }
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(format!("renewal information for {id}: {e}")),
        }
    }
}

/// What a CA's renewal information says of one certificate.
pub struct RenewalWindow {
    pub window: (SystemTime, SystemTime),
    /// The CA's Retry-After: when to ask again.
    pub ask_again: Duration,
}

fn challenge_type(kind: ChallengeKind) -> ChallengeType {
    match kind {
        ChallengeKind::Http01 => ChallengeType::Http01,
        ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
    }
}

/// The CA's reasons, from the failed challenges of an invalid order.
async fn why_invalid(order: &mut instant_acme::Order) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if let Ok(state) = authz.refresh().await {
            for challenge in &state.challenges {
                if let Some(problem) = &challenge.error {
                    reasons.push(problem.to_string());
                }
            }
        }
    }
    if reasons.is_empty() {
        "the order is invalid".into()
    } else {
        reasons.join("; ")
    }
}

/// A challenge answered while it lives: dropping it withdraws the answer.
struct Answer {
    store: Arc<ManagedCerts>,
    what: Answered,
}

enum Answered {
    Http(String),
    Alpn(String),
}

impl Answer {
    fn set(
        store: &Arc<ManagedCerts>,
        kind: ChallengeKind,
        name: &str,
        token: &str,
        key_authorization: &instant_acme::KeyAuthorization,
    ) -> Result<Answer, String> {
        let what = match kind {
            ChallengeKind::Http01 => {
                store.set_http_challenge(token, Some(key_authorization.as_str().to_string()));
                Answered::Http(token.to_string())
            }
            ChallengeKind::TlsAlpn01 => {
                let cert = generate::alpn_challenge(name, key_authorization.digest().as_ref())?;
                store.set_alpn_challenge(name, Some(cert));
                Answered::Alpn(name.to_string())
            }
        };
        Ok(Answer { store: store.clone(), what })
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        match &self.what {
            Answered::Http(token) => self.store.set_http_challenge(token, None),
            Answered::Alpn(name) => self.store.set_alpn_challenge(name, None),
        }
    }
}
