//! Forecourt's edge defences, each a filter on the request pipeline: rate limits
//! (`limits`) so far; IP lists, challenge pages, bans and the WAF join them here.
pub mod limits;
