//! The request path. Its stages, in the order a request meets them:
//!
//! `server` (accept, one loop per worker; `defer_accept` tunes its listener) → `tls`
//! (handshake and record layer; `transport` hides plain or TLS from what follows) → `h1`
//! (HTTP/1 server: framing checks, client timers) or `h2` (HTTP/2, served by hyper) →
//! `pipeline` (the whole life of one request, in `pipeline::handle`) → the front chain,
//! `router` and `route`, the route's chain (`filters`, each on the `filter` contract) →
//! `action` (answer, redirect, or forward) → `forward` (the request as the backend sees it,
//! the tries) → `forecourt_upstream`.
//!
//! Below the stages, what they hand each other and share: the connection's facts (`conn`)
//! and its client's forwarding headers (`client_identity`),
//! bodies (`body`), the answers Forecourt makes itself (`answers`), the per-worker context
//! (`worker`, with `drain` and `parking`, where its idle keep-alive connections wait), the
//! snapshot (`runtime`, `settings`) and the state that outlives it (`state`), and the
//! per-request record (`exchange`, `access_log`, `metrics`).
pub mod action;
mod defer_accept;
pub mod filter;
pub mod filters;
pub mod forward;
pub mod h1;
mod h2;
pub mod h2_abuse;
pub mod pipeline;
mod prefixed;
pub mod proxy_protocol;
pub mod route;
pub mod router;
pub mod server;
pub mod tls;
mod transport;

pub mod access_log;
pub mod admission;
pub mod answers;
pub mod body;
pub mod cidr;
pub mod client_identity;
pub mod conn;
mod drain;
pub mod exchange;
pub mod metrics;
pub mod normal_path;
mod parking;
pub mod percent;
pub mod request_id;
pub mod runtime;
pub mod settings;
pub mod state;
pub mod worker;

pub use runtime::Runtime;
pub use settings::{ClientLimits, MinRate, NonAsciiTargets, Settings, LONGEST_DURATION};
pub use state::ProcessState;
