//! TLS termination: the rustls server configuration (protocol and cipher policy, ALPN,
//! session resumption), certificates loaded from PEM files, and the store that picks one
//! by SNI, and automatic certificates (ACME and an internal CA, `auto`); `fetch` gets
//! what the config names by URL (the ACME directory, address-list feeds). The handshake
//! itself and the record layer run in the proxy's connection stage (`forecourt_proxy::tls`),
//! over the same readiness-driven socket as plain HTTP.
pub mod auto;
mod certs;
mod client_auth;
pub mod fetch;
mod pem;
mod policy;
mod sessions;
mod state;
mod store;
mod tickets;

pub use certs::{load_table, CertSource, FileStamp, LoadedCert};
pub use client_auth::{subject, ClientAuth};
pub use pem::{read_chain_and_key, read_roots, SYSTEM_ROOTS};
pub use policy::{provider, server_config, Handshakes, Policy, Resumption, Versions};
pub use rustls;
pub use state::TlsState;
pub use store::{CertTable, SniResolver};
pub use tickets::DEFAULT_ROTATION as DEFAULT_TICKET_KEY_ROTATION;
