//! Forecourt's edge defences, each a filter on the request pipeline or a listener's check
//! at accept: rate limits (`limits`), IP lists (`lists`), connection limits
//! (`connections`), bans (`bans`), challenge pages (`challenge`) and GeoIP (`geoip`), with the per-address
//! key they share (`address_key`), a request's cookie by name (`cookie`), and the count of connections refused at accept
//! (`refusals`), and the WAF (`waf`: OWASP CRS on a SecLang engine). What must outlive a
//! restart goes to `[global] data_dir` through `state_file`.
pub mod address_key;
pub mod bans;
pub mod challenge;
pub mod connections;
pub mod cookie;
pub mod geoip;
pub mod limits;
pub mod lists;
pub mod refusals;
mod state_file;
pub mod waf;
