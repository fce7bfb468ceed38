//! `[compress]` and a route's `compress`: the codings, levels, types and minimum size of
//! each route's compression filter (a route's own keys over `[compress]`'s over the
//! built-in defaults).
use super::Ctx;
use crate::model::{CompressCfg, RouteCompressCfg};
use forecourt_compress::{Coding, CompressFilter, CompressOptions};
use toml::Spanned;

/// A route's compression filter, if its `compress` is on.
pub fn filter(
    cx: &mut Ctx<'_>,
    cfg: &Spanned<RouteCompressCfg>,
    defaults: Option<&Spanned<CompressCfg>>,
) -> Option<CompressFilter> {
    let own = match cfg.get_ref() {
        RouteCompressCfg::On(false) => return None,
        RouteCompressCfg::On(true) => None,
        RouteCompressCfg::Options(o) => Some(&**o),
    };
    let mut options = CompressOptions::default();
    for layer in [defaults.map(|d| d.get_ref()), own].into_iter().flatten() {
        apply(cx, layer, &mut options);
    }
    Some(CompressFilter { options })
}

fn apply(cx: &mut Ctx<'_>, c: &CompressCfg, o: &mut CompressOptions) {
    if let Some(list) = &c.codings {
        o.codings = list
            .iter()
            .filter_map(|name| match name.get_ref().as_str() {
                "zstd" => Some(Coding::Zstd),
                "br" => Some(Coding::Br),
                "gzip" => Some(Coding::Gzip),
                other => {
                    cx.error(
                        name,
                        format!("unknown coding `{other}`"),
                        Some("use \"zstd\", \"br\" or \"gzip\"".into()),
                    );
                    None
                }
            })
            .collect();
    }
    if let Some(levels) = &c.levels {
        let l = levels.get_ref();
        if let Some(n) = l.zstd.as_ref().and_then(|v| level(cx, v, 1..=19, "zstd")) {
            o.levels.zstd = n;
        }
        if let Some(n) = l.br.as_ref().and_then(|v| level(cx, v, 0..=11, "br")) {
            o.levels.br = n;
        }
        if let Some(n) = l.gzip.as_ref().and_then(|v| level(cx, v, 1..=9, "gzip")) {
            o.levels.gzip = n;
        }
    }
    if let Some(types) = &c.types {
        o.eligibility.types = types.iter().map(|t| t.get_ref().to_ascii_lowercase()).collect();
    }
    if let Some(min) = cx.size(&c.min_size) {
        o.eligibility.min_size = min;
    }
}

/// A level within its coding's range.
fn level<T: PartialOrd + Copy + std::fmt::Display>(
    cx: &mut Ctx<'_>,
    v: &Spanned<T>,
    range: std::ops::RangeInclusive<T>,
    coding: &str,
) -> Option<T> {
    let n = *v.get_ref();
    if range.contains(&n) {
        return Some(n);
    }
    cx.error(v, format!("{coding} level {n} is out of range ({}..={})", range.start(), range.end()), None);
    None
}
