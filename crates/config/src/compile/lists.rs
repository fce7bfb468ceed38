//! `[lists.NAME]` loaded into address sets, and a route's `allow` / `deny` (a 403 filter);
//! a listener's are checked at accept (`admission`). A file that cannot be read or
//! has bad lines fails the check, naming the file's lines; a reload with such a file is
//! refused and the running config keeps serving. A `url` is a feed, fetched in the
//! background once the config runs (a reload that keeps it keeps its copy; a start begins
//! from the copy kept in `data_dir`).
use super::Ctx;
use crate::model::ListCfg;
use forecourt_edge::lists::text::{self, Format};
use forecourt_edge::lists::{kept, Feed, IpList, IpListFilter, Lists, Places};
use forecourt_proxy::cidr::{Cidr, TrustedProxies};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub type ListTable = BTreeMap<String, Arc<IpList>>;

pub fn compile(
    cx: &mut Ctx<'_>,
    model: &BTreeMap<String, Spanned<ListCfg>>,
    geoip: Option<&super::geoip::GeoSetup>,
    data_dir: &Path,
) -> ListTable {
    let mut table = ListTable::new();
    let running = cx.state.services.get::<Lists>();
    for (name, cfg) in model {
        let c = cfg.get_ref();
        let mut cidrs: Vec<Cidr> = cx.cidrs(&c.cidrs, "list").0;
        let format = format(cx, c);
        if let Some(file) = &c.file {
            let path = cx.file_path(file.get_ref());
            match std::fs::read_to_string(&path) {
                Err(e) => cx.error(file, format!("cannot read `{path}`: {e}"), None),
                Ok(text) => match text::parse_as(&text, format) {
                    Ok(more) => cidrs.extend(more),
                    Err(bad) => {
                        let lines: Vec<String> = bad.iter().map(|(n, why)| format!("{path}:{n}: {why}")).collect();
                        cx.error(file, format!("bad lines in the list file:\n  {}", lines.join("\n  ")), None);
                    }
                },
            }
        }
        if c.cidrs.is_empty() && c.file.is_none() && c.url.is_none() && c.countries.is_empty() && c.asns.is_empty() {
            let hint = "give it cidrs = [...], file = \"...\", url = \"https://...\", countries or asns";
            cx.error(cfg, format!("list `{name}` is empty"), Some(hint.into()));
        }
        let keep = kept::path(&data_dir.join("lists"), name);
        let feed = feed(cx, c, format, keep).map(|f| match &running {
            Some(running) => running.feed_for(name, f),
            None => Arc::new(f.from_kept_copy()),
        });
        let places = places(cx, c, geoip);
        table.insert(name.clone(), Arc::new(IpList::with_feed(name, cidrs, feed).with_places(places)));
    }
    table
}

/// A list's `countries` and `asns`, which need `[geoip]`.
fn places(cx: &mut Ctx<'_>, c: &ListCfg, geoip: Option<&super::geoip::GeoSetup>) -> Option<Places> {
    if c.countries.is_empty() && c.asns.is_empty() {
        return None;
    }
    let countries = super::geoip::countries(cx, &c.countries);
    let mut asns = Vec::new();
    for a in &c.asns {
        match u32::try_from(*a.get_ref()) {
            Ok(n) => asns.push(n),
            Err(_) => cx.error(a, "an AS number is between 0 and 4294967295", None),
        }
    }
    let Some(geoip) = geoip else {
        let at = c.countries.first().map(|c| c.span()).or(c.asns.first().map(|a| a.span()));
        if let Some(span) = at {
            let d = cx.source.at(
                span,
                "countries and asns need [geoip]",
                Some("add [geoip] with databases = [...]".into()),
            );
            cx.errors.push(d);
        }
        return None;
    };
    Some(Places { geo: geoip.geo.clone(), countries, asns })
}

/// How a list's file and feed are written (`format`).
fn format(cx: &mut Ctx<'_>, c: &ListCfg) -> Format {
    match c.format.as_ref().map(|f| (f, f.get_ref().as_str())) {
        None | Some((_, "auto")) => Format::Auto,
        Some((_, "text")) => Format::Plain,
        Some((_, "json")) => Format::Json,
        Some((at, other)) => {
            cx.error(at, format!("unknown format `{other}`"), Some("use \"auto\", \"text\" or \"json\"".into()));
            Format::Auto
        }
    }
}

/// The feed a list's `url` names, checked.
fn feed(cx: &mut Ctx<'_>, c: &ListCfg, format: Format, keep: PathBuf) -> Option<Feed> {
    let url = c.url.as_ref()?;
    let ok = url
        .get_ref()
        .parse::<http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some_and(|h| !h.is_empty()));
    if !ok {
        cx.error(url, format!("`{}` is not an http:// or https:// URL", url.get_ref()), None);
    }
    let refresh = cx.duration(&c.refresh, Duration::from_secs(3600));
    if let Some(at) = c.refresh.as_ref().filter(|_| refresh < Duration::from_secs(1)) {
        cx.error(at, "refresh must be at least 1s", None);
    }
    ok.then(|| Feed::new(url.get_ref(), refresh, format, Some(keep)))
}

/// The lists `names` stand for; an unknown name is an error where it stands.
pub fn pick(cx: &mut Ctx<'_>, names: &[Spanned<String>], table: &ListTable) -> Vec<Arc<IpList>> {
    let mut out = Vec::new();
    for name in names {
        match table.get(name.get_ref()) {
            Some(list) => out.push(list.clone()),
            None => {
                let known: Vec<&str> = table.keys().map(String::as_str).collect();
                let hint = if known.is_empty() {
                    "no [lists.NAME] is defined".into()
                } else {
                    format!("defined: {}", known.join(", "))
                };
                cx.error(name, format!("unknown list `{}`", name.get_ref()), Some(hint));
            }
        }
    }
    out
}

/// `trusted_proxies`: CIDRs and addresses, and the names of `[lists.NAME]` (a CDN's
/// published ranges as a feed, followed as they change).
pub fn trusted_proxies(cx: &mut Ctx<'_>, entries: &[Spanned<String>], table: &ListTable) -> TrustedProxies {
    let mut trusted = TrustedProxies::default();
    let hint = "write a CIDR such as \"10.0.0.0/8\", an address, or the name of a [lists.NAME]";
    for entry in entries {
        match table.get(entry.get_ref()) {
            Some(list) => trusted.lists.push(list.clone()),
            None => trusted.cidrs.0.extend(cx.cidr(entry, "trusted_proxies", hint)),
        }
    }
    trusted
}

/// A route's 403 filter, if it names lists.
pub fn filter(
    cx: &mut Ctx<'_>,
    allow: &[Spanned<String>],
    deny: &[Spanned<String>],
    table: &ListTable,
) -> Option<IpListFilter> {
    let (allow, deny) = (pick(cx, allow, table), pick(cx, deny, table));
    (!allow.is_empty() || !deny.is_empty()).then_some(IpListFilter { allow, deny })
}

/// After a config compiled whole: `/metrics` shows its lists.
pub fn commit(cx: &Ctx<'_>, table: &ListTable) {
    let lists = cx.state.services.get::<Lists>();
    if table.is_empty() && lists.is_none() {
        return;
    }
    // The feeds of this config start (or go on) once it runs.
    let lists = lists.unwrap_or_default();
    lists.commit(table.values().cloned().collect());
    cx.state.services.set(lists);
}
