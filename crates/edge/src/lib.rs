//! Forecourt's edge defences, each a filter on the request pipeline or a listener's check
//! at accept: rate limits (`limits`), IP lists (`lists`), connection limits
//! (`connections`) and bans (`bans`), with the per-address key they share
//! (`address_key`); challenge pages and the WAF join them here.
pub mod address_key;
pub mod bans;
pub mod connections;
pub mod limits;
pub mod lists;
