//! `[compress]` and a route's `compress`.
use super::switch::bool_or_table;
use super::*;

/// `[compress]`, or a route's `compress = { ... }`: each key unset takes `[compress]`'s,
/// then the built-in default.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CompressCfg {
    /// Codings offered, in the server's order of preference; `["zstd", "br", "gzip"]`.
    pub codings: Option<Vec<Spanned<String>>>,
    pub levels: Option<Spanned<CompressLevelsCfg>>,
    /// Media types compressed (`text/*`, `application/*+json`, exact names).
    pub types: Option<Vec<Spanned<String>>>,
    /// Responses known to be smaller are sent as they are ("1k").
    pub min_size: Option<Spanned<Size>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct CompressLevelsCfg {
    pub zstd: Option<Spanned<i32>>,
    pub br: Option<Spanned<u32>>,
    pub gzip: Option<Spanned<u32>>,
}

/// A route's `compress`: `true`, or a table.
#[derive(Debug)]
pub enum RouteCompressCfg {
    On(bool),
    Options(Box<CompressCfg>),
}

impl<'de> Deserialize<'de> for RouteCompressCfg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match bool_or_table::<D, CompressCfg>(d, "true, false, or a table of compression options")? {
            Ok(on) => Ok(RouteCompressCfg::On(on)),
            Err(options) => Ok(RouteCompressCfg::Options(Box::new(options))),
        }
    }
}
