//! The built-in filters, one file each. Front chain (process-wide, before routing):
//! `uri_length`, `acme_challenge`, `misdirected`. Route chains, in this order (see
//! `docs/config.md`): `strip_prefix`, `request_headers`, `hide_response_headers`,
//! `response_headers`, `hsts`, `https_redirect`, `client_certificate`, `max_body`, `noop`,
//! `mirror`.
mod acme_challenge;
mod client_certificate;
mod header_rules;
mod hide_headers;
mod hsts;
mod https_redirect;
mod max_body;
mod mirror;
mod misdirected;
mod noop;
mod request_headers;
mod response_headers;
mod strip_prefix;
mod uri_length;

pub use acme_challenge::AcmeChallenge;
pub use client_certificate::ClientCertificate;
pub use header_rules::HeaderRules;
pub use hide_headers::HideResponseHeaders;
pub use hsts::Hsts;
pub use https_redirect::HttpsRedirect;
pub use max_body::MaxBody;
pub use mirror::{Mirror, MAX_IN_FLIGHT};
pub use misdirected::Misdirected;
pub use noop::Noop;
pub use request_headers::RequestHeaders;
pub use response_headers::ResponseHeaders;
pub use strip_prefix::StripPrefix;
pub use uri_length::UriLength;
