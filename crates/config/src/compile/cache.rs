//! `[cache]` and a route's `cache`: the process-wide store (kept across reloads while its
//! bounds stay the same) and each route's cache filter.
use super::Ctx;
use crate::model::{CacheCfg, RouteCacheCfg, RouteCacheOptions, TtlByStatusCfg};
use forecourt_cache::disk::DiskTier;
use forecourt_cache::storable;
use forecourt_cache::targets::Targets;
use forecourt_cache::{
    Bypass, CacheFilter, DiskConfig, KeySpec, RouteOptions, Store, StoreConfig, TtlByStatus,
    DEFAULT_STALE_IF_UNREACHABLE,
};
use forecourt_proxy::cidr::CidrList;
use forecourt_upstream::token::is_token;
use http::header::HeaderName;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// What `[cache]` sets for every route, and the store.
pub struct CacheShared {
    pub store: Arc<Store>,
    pub targets: Targets,
    pub tag_headers: Vec<HeaderName>,
    pub lock_timeout: Duration,
    pub purge_from: CidrList,
}

/// The store `[cache]` describes: the running one when its bounds are unchanged.
pub fn shared(cx: &mut Ctx<'_>, cfg: Option<&Spanned<CacheCfg>>) -> CacheShared {
    let empty = CacheCfg::default();
    let c = cfg.map_or(&empty, |c| c.get_ref());
    let d = StoreConfig::default();
    let disk = c.disk.as_ref().map(|disk| DiskConfig {
        path: PathBuf::from(cx.file_path(disk.get_ref().path.get_ref())),
        size: cx.size(&Some(disk.get_ref().size.clone())).unwrap_or(0),
    });
    let config = StoreConfig {
        memory: cx.size(&c.memory).unwrap_or(d.memory),
        max_object: cx.size(&c.max_object).unwrap_or(d.max_object),
        disk,
    };
    if let (Some(at), true) = (&c.memory, config.memory < 1 << 20) {
        cx.error(at, "cache memory must be at least 1m", None);
    }
    if let (Some(at), true) = (&c.max_object, config.max_object > config.memory) {
        cx.error(at, "max_object is larger than the cache's memory", None);
    }
    if let (Some(at), Some(disk)) = (&c.disk, &config.disk) {
        if disk.size < config.max_object {
            cx.error(&at.get_ref().size, "the disk tier is smaller than max_object", None);
        }
    }
    let running = cx.state.services.get::<Store>();
    let store = match running.clone() {
        Some(running) if running.config == config => running,
        // Inspected only (`check`): the folder is looked at, not made.
        _ if !cx.serving => {
            if let (Some(at), Some(Err(e))) = (&c.disk, config.disk.as_ref().map(|d| DiskTier::check_usable(&d.path))) {
                let path = config.disk.as_ref().map(|d| d.path.display().to_string()).unwrap_or_default();
                cx.error(&at.get_ref().path, format!("cannot use {path} for the cache: {e}"), None);
            }
            Arc::new(Store::open(StoreConfig { disk: None, ..config }).expect("a store without disk opens"))
        }
        // Started by `commit`: a reload refused for an error elsewhere touches no file.
        _ => match Store::prepare(config.clone(), running.as_deref()) {
            Ok(store) => Arc::new(store),
            Err(e) => {
                let at = &c.disk.as_ref().expect("only a disk tier can fail to open").get_ref().path;
                let path = config.disk.as_ref().map(|d| d.path.display().to_string()).unwrap_or_default();
                cx.error(at, format!("cannot use {path} for the cache: {e}"), None);
                Arc::new(Store::open(StoreConfig { disk: None, ..config }).expect("a store without disk opens"))
            }
        },
    };
    let own = match &c.targeted_field {
        None => Some(HeaderName::from_static("forecourt-cache-control")),
        Some(name) if name.get_ref().is_empty() || name.get_ref() == "off" => None,
        Some(name) => header_name(cx, name),
    };
    let surrogate_id = match &c.surrogate_id {
        None => Some("forecourt".into()),
        Some(id) if id.get_ref().is_empty() || id.get_ref() == "off" => None,
        Some(id) if is_token(id.get_ref()) => Some(id.get_ref().as_str().into()),
        Some(id) => {
            let hint = "a device token: letters, digits and !#$%&'*+-.^_`|~, or \"off\"";
            cx.error(id, format!("`{}` is not a surrogate device token", id.get_ref()), Some(hint.into()));
            None
        }
    };
    let targets = Targets { own, surrogate_id };
    let tag_headers = match &c.tag_headers {
        None => RouteOptions::default().tag_headers,
        Some(list) => list.iter().filter_map(|n| header_name(cx, n)).collect(),
    };
    let lock_timeout = cx.duration(&c.lock_timeout, Duration::from_secs(5));
    let purge_from = cx.cidrs(c.purge_from.as_deref().unwrap_or_default(), "purge_from");
    CacheShared { store, targets, tag_headers, lock_timeout, purge_from }
}

/// Registers the store as the process's once the whole config compiled, and starts its
/// disk tier (again for a running store: nothing); a new store takes the running one's
/// place (`Store::take_over`: its objects and counters).
pub fn commit(cx: &Ctx<'_>, shared: &CacheShared) {
    shared.store.start();
    if let Some(running) = cx.state.services.get::<Store>().filter(|r| !Arc::ptr_eq(r, &shared.store)) {
        shared.store.take_over(&running);
    }
    cx.state.services.set(shared.store.clone());
}

/// A route's cache filter, if its `cache` is on.
pub fn filter(
    cx: &mut Ctx<'_>,
    cfg: &Spanned<RouteCacheCfg>,
    route: &str,
    shared: &CacheShared,
) -> Option<CacheFilter> {
    let default = RouteCacheOptions::default();
    let o = match cfg.get_ref() {
        RouteCacheCfg::On(false) => return None,
        RouteCacheCfg::On(true) => &default,
        RouteCacheCfg::Options(o) => &**o,
    };
    let seconds =
        |cx: &mut Ctx<'_>, v: &Option<Spanned<String>>| v.as_ref().map(|_| cx.duration(v, Duration::ZERO).as_secs());
    let mut options = RouteOptions {
        key: KeySpec::default(),
        default_ttl: ttl_by_status(cx, &o.default_ttl),
        override_ttl: ttl_by_status(cx, &o.override_ttl),
        max_ttl: seconds(cx, &o.max_ttl),
        stale_while_revalidate: seconds(cx, &o.stale_while_revalidate),
        stale_if_error: seconds(cx, &o.stale_if_error),
        stale_if_unreachable: match &o.stale_if_unreachable {
            None => Some(DEFAULT_STALE_IF_UNREACHABLE),
            Some(off) if off.get_ref() == "off" => None,
            Some(_) => seconds(cx, &o.stale_if_unreachable),
        },
        ignore_client_no_cache: o.ignore_client_no_cache,
        store_set_cookie: o.store_set_cookie.unwrap_or(true),
        bypass: Bypass::default(),
        targets: shared.targets.clone(),
        tag_headers: shared.tag_headers.clone(),
        lock_timeout: shared.lock_timeout,
        purge_from: shared.purge_from.clone(),
    };
    if let Some(k) = &o.key {
        let k = k.get_ref();
        match k.query.as_ref().map(|q| (q, q.get_ref().as_str())) {
            None | Some((_, "keep")) => {}
            Some((_, "sort")) => options.key.sort_query = true,
            Some((_, "drop")) => options.key.drop_query = true,
            Some((at, other)) => cx.error(
                at,
                format!("unknown key query mode `{other}`"),
                Some("use \"keep\", \"sort\" or \"drop\"".into()),
            ),
        }
        options.key.ignore_params = k.ignore_params.iter().map(|p| p.get_ref().clone()).collect();
        options.key.headers = k.headers.iter().filter_map(|n| header_name(cx, n)).collect();
        options.key.cookies = k.cookies.iter().map(|c| c.get_ref().clone()).collect();
    }
    if let Some(b) = &o.bypass {
        let b = b.get_ref();
        options.bypass.headers = b.headers.iter().filter_map(|n| header_name(cx, n)).collect();
        options.bypass.cookies = b.cookies.iter().map(|c| c.get_ref().clone()).collect();
    }
    Some(CacheFilter::new(shared.store.clone(), options, route))
}

/// A route's `default_ttl` or `override_ttl`: one duration, or durations by status (each
/// a status a whole response is stored with, or `any`).
fn ttl_by_status(cx: &mut Ctx<'_>, cfg: &Option<Spanned<TtlByStatusCfg>>) -> TtlByStatus {
    let Some(cfg) = cfg else { return TtlByStatus::Off };
    let by_status = match cfg.get_ref() {
        TtlByStatusCfg::Cacheable(text) => {
            return cx.duration_at(text, cfg).map_or(TtlByStatus::Off, |ttl| TtlByStatus::Cacheable(ttl.as_secs()))
        }
        TtlByStatusCfg::ByStatus(table) => table,
    };
    let (mut statuses, mut any) = (Vec::new(), None);
    for (status, ttl) in by_status {
        let Some(ttl) = cx.duration_at(ttl.get_ref(), ttl).map(|d| d.as_secs()) else { continue };
        match (status.get_ref().as_str(), status.get_ref().parse::<u16>()) {
            ("any", _) => any = Some(ttl),
            (_, Ok(code)) if storable::stored_whole(code) => statuses.push((code, ttl)),
            (code, _) => {
                let hint = "a final status from 200 to 599 but 206 and 304 (a part and a validation are not \
                            stored as a whole response), or `any`";
                cx.error(status, format!("`{code}` is not a status a response is stored with"), Some(hint.into()))
            }
        }
    }
    TtlByStatus::ByStatus { statuses, any }
}

fn header_name(cx: &mut Ctx<'_>, name: &Spanned<String>) -> Option<HeaderName> {
    match HeaderName::from_bytes(name.get_ref().as_bytes()) {
        Ok(n) => Some(n),
        Err(_) => {
            cx.error(name, format!("`{}` is not a header name", name.get_ref()), None);
            None
        }
    }
}
