//! GeoIP (`[geoip]`): MaxMind-format databases give each client's country and ASN
//! (`db`, reloaded when a file changes); the front chain's filter hands them upstream as
//! headers and to the access log (`filter`); lists match them (`countries`, `asns`).
mod db;
mod filter;

pub use db::{lookup_in, Geo, Place};
pub use filter::GeoFilter;
