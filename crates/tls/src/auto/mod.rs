//! Automatic certificates, the way Caddy does it: every host named on a TLS listener gets
//! a certificate without anyone running certbot. Public names are ordered from an ACME CA
//! (RFC 8555; Let's Encrypt by default), local names (`localhost`, `*.internal`, …) are
//! signed by a CA of Forecourt's own. Certificates and the ACME account are kept in a
//! storage directory and reused across restarts; each is renewed in the background once
//! two thirds of its lifetime have passed (or when the CA's renewal information says),
//! and serves until its replacement is ready. A name whose first certificate is not issued
//! yet is served a temporary self-signed one.
//!
//! The pieces: `plan` (what the config asks for), `managed` (what handshakes and the HTTP
//! stage read: served certificates and challenge answers), `manager` (a thread with a task
//! per name that orders and renews; `renew_request`, a renewal asked of a name, which
//! outlives its task), `acme` and `internal_ca` (the two issuers),
//! `storage` (files on disk), `renewal` (when), `generate` (certificates made here).
mod acme;
mod generate;
mod http_client;
mod internal_ca;
mod managed;
mod manager;
mod plan;
mod renew_request;
mod renewal;
mod storage;

pub use managed::{ManagedCerts, NameStatus};
pub use manager::Manager;
pub use plan::{is_local_name, AcmeSettings, AutoName, AutoPlan, ChallengeKind, Issuer, LETS_ENCRYPT};

/// The ALPN protocol of TLS-ALPN-01 challenges (RFC 8737): a handshake that offers it is
/// a CA validating a name, and the connection carries no HTTP.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// Where HTTP-01 challenges are fetched (RFC 8555 §8.3).
pub const HTTP_CHALLENGE_PATH: &str = "/.well-known/acme-challenge/";
