//! A route's `split` and `split_sticky` → [`Split`].
use super::upstreams::UpstreamTable;
use super::Ctx;
use crate::model::SplitCfg;
use forecourt_proxy::forward::{Split, SplitTarget, Sticky};
use http::header::HeaderName;
use toml::Spanned;

/// `None` after an error (reported).
pub fn compile(
    cx: &mut Ctx<'_>,
    split: &Spanned<Vec<SplitCfg>>,
    sticky: &Option<Spanned<String>>,
    route: &str,
    upstreams: &UpstreamTable,
) -> Option<Split> {
    let errors = cx.errors.len();
    let sticky = match sticky.as_ref().map(|s| (s, s.get_ref().as_str())) {
        None | Some((_, "ip")) => Sticky::Ip,
        Some((_, "cookie")) => Sticky::Cookie(format!("forecourt_split_{}", cookie_safe(route))),
        Some((_, "none")) => Sticky::None,
        Some((s, other)) => {
            cx.error(s, format!("unknown split_sticky `{other}`"), Some("\"ip\", \"cookie\" or \"none\"".into()));
            Sticky::None
        }
    };
    if split.get_ref().is_empty() {
        cx.error(split, format!("route `{route}` has an empty split"), None);
        return None;
    }
    let mut targets = Vec::new();
    for entry in split.get_ref() {
        let weight = match &entry.weight {
            None => 1,
            Some(w) => match u32::try_from(*w.get_ref()) {
                Ok(w) => w,
                Err(_) => {
                    cx.error(w, format!("split weight {} must be 0 or more", w.get_ref()), None);
                    0
                }
            },
        };
        if targets.iter().any(|t: &SplitTarget| &t.group.name == entry.upstream.get_ref()) {
            cx.error(&entry.upstream, format!("`{}` appears twice in the split", entry.upstream.get_ref()), None);
        }
        let Some(group) = upstreams.named(cx, &entry.upstream, route) else { continue };
        let mut target = SplitTarget::new(group, weight);
        if let Some(h) = &entry.when_header {
            target.when_header = header_condition(cx, h);
        }
        if let Some(c) = &entry.when_cookie {
            match c.get_ref().split_once('=') {
                Some((name, value)) if !name.trim().is_empty() => {
                    target.when_cookie = Some((name.trim().to_string(), value.trim().to_string()));
                }
                _ => cx.error(c, "when_cookie is `NAME=VALUE`", None),
            }
        }
        targets.push(target);
    }
    if cx.errors.len() != errors {
        return None;
    }
    if targets.iter().all(|t| t.weight == 0) {
        cx.error(
            split,
            format!("the weights of route `{route}`'s split sum to 0"),
            Some("give a side a weight above 0".into()),
        );
        return None;
    }
    Some(Split::new(targets, sticky))
}

/// `"X-Canary: always"` → the header and the value.
fn header_condition(cx: &mut Ctx<'_>, h: &Spanned<String>) -> Option<(HeaderName, String)> {
    let parsed = h.get_ref().split_once(':').and_then(|(name, value)| {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        Some((name, value.trim().to_string()))
    });
    if parsed.is_none() {
        cx.error(h, "when_header is `NAME: VALUE`", Some("e.g. when_header = \"X-Canary: always\"".into()));
    }
    parsed
}

/// A route name made fit for a cookie name.
fn cookie_safe(route: &str) -> String {
    route.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}
