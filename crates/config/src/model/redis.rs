//! `[redis]`: the Redis server (or Redis Cluster) that instances share limits and bans
//! through.
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RedisCfg {
    /// `redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://` for TLS: one server.
    pub url: Option<Spanned<String>>,
    /// A Redis Cluster: some of its nodes' URLs (the others are learnt from them).
    pub cluster: Option<Spanned<Vec<Spanned<String>>>>,
    /// The most a request waits for Redis before it uses local state (default "100ms").
    pub timeout: Option<Spanned<String>>,
    /// Put before every key and channel (default "forecourt:").
    pub prefix: Option<Spanned<String>>,
}
