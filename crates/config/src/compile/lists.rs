//! `[lists.NAME]` loaded into address sets, and a route's `allow` / `deny` (a 403 filter);
//! a listener's are checked at accept (`admission`). A file that cannot be read or
//! has bad lines fails the check, naming the file's lines; a reload with such a file is
//! refused and the running config keeps serving.
use super::Ctx;
use crate::model::ListCfg;
use forecourt_edge::lists::{text, IpList, IpListFilter, IpSet, Lists};
use forecourt_proxy::cidr::Cidr;
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

pub type ListTable = BTreeMap<String, Arc<IpList>>;

pub fn compile(cx: &mut Ctx<'_>, model: &BTreeMap<String, Spanned<ListCfg>>) -> ListTable {
    let mut table = ListTable::new();
    for (name, cfg) in model {
        let c = cfg.get_ref();
        let mut cidrs: Vec<Cidr> = cx.cidrs(&c.cidrs, "list").0;
        if let Some(file) = &c.file {
            let path = cx.file_path(file.get_ref());
            match std::fs::read_to_string(&path) {
                Err(e) => cx.error(file, format!("cannot read `{path}`: {e}"), None),
                Ok(text) => match text::parse(&text) {
                    Ok(more) => cidrs.extend(more),
                    Err(bad) => {
                        let lines: Vec<String> = bad.iter().map(|(n, why)| format!("{path}:{n}: {why}")).collect();
                        cx.error(file, format!("bad lines in the list file:\n  {}", lines.join("\n  ")), None);
                    }
                },
            }
        }
        if c.cidrs.is_empty() && c.file.is_none() {
            cx.error(cfg, format!("list `{name}` is empty"), Some("give it cidrs = [...] or file = \"...\"".into()));
        }
        table.insert(name.clone(), Arc::new(IpList::new(name, IpSet::new(&cidrs))));
    }
    table
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
    let lists = lists.unwrap_or_default();
    lists.commit(table.values().cloned().collect());
    cx.state.services.set(lists);
}
