//! The request path: listeners and workers, the HTTP server, routing, the filter chain and
//! the forwarder. Stages, in the order a request meets them:
//!
//! `server` (accept, per-worker) → `tls` (handshake and record layer, on TLS listeners;
//! `transport` hides plain or TLS from what follows) → `h1` (HTTP/1 server: framing
//! checks, client timers) or `h2` (HTTP/2, served by hyper) →
//! `service` (snapshot, request id) → `router` → `filter` chain → `route::Action`
//! (`respond`, redirect, or `forward` through `forecourt_upstream`) → response filters →
//! `body::ProxyBody` → `exchange` (access log + metrics, once per request).
pub mod access_log;
pub mod body;
pub mod cidr;
mod drain;
pub mod exchange;
pub mod filter;
mod forward;
pub mod h1;
mod h2;
pub mod headers;
pub mod metrics;
pub mod mirror;
mod prefixed;
pub mod request_id;
pub mod respond;
pub mod route;
pub mod router;
pub mod runtime;
mod secure;
pub mod server;
pub mod service;
pub mod split;
pub mod tls;
mod transport;
mod tries;

pub use runtime::{ClientLimits, Runtime, Settings};
