//! `[redis]`: the Redis server that instances share limits and bans through.
use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RedisCfg {
    /// `redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `rediss://` for TLS.
    pub url: Spanned<String>,
    /// The most a request waits for Redis before it uses local state (default "100ms").
    pub timeout: Option<Spanned<String>>,
    /// Put before every key and channel (default "forecourt:").
    pub prefix: Option<Spanned<String>>,
}
