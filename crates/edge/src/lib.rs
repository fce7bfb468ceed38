//! Forecourt's edge defences, each a filter on the request pipeline: rate limits
//! (`limits`) and IP lists (`lists`) so far; challenge pages, bans and the WAF join them here.
pub mod limits;
pub mod lists;
