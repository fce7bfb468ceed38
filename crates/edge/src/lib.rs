//! Forecourt's edge defences, each a filter on the request pipeline or a listener's check
//! at accept: rate limits (`limits`), IP lists (`lists`) and connection limits
//! (`connections`) so far; challenge pages, bans and the WAF join them here.
pub mod connections;
pub mod limits;
pub mod lists;
