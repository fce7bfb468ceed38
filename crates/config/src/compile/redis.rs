//! `[redis]` compiled: the process's one connection to Redis (`forecourt_redis`). A reload
//! that keeps `[redis]` as it was keeps the running connection; one that changes it starts
//! another (the old one ends with the last snapshot that uses it); one that removes it
//! leaves the limits and bans local.
use super::Ctx;
use crate::model::RedisCfg;
use forecourt_redis::{Redis, RedisSpec, Servers};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

pub fn compile(cx: &mut Ctx<'_>, table: Option<&Spanned<RedisCfg>>) -> Option<Arc<Redis>> {
    let table = table?;
    let model = table.get_ref();
    let timeout = cx.duration(&model.timeout, Duration::from_millis(100));
    if let (Some(at), true) = (&model.timeout, timeout.is_zero() || timeout > Duration::from_secs(10)) {
        cx.error(at, "must be between 1ms and 10s", None);
    }
    // After the timeout, so that a table with both mistakes reports both.
    let servers = servers(cx, table)?;
    let spec = RedisSpec {
        servers,
        timeout,
        prefix: model.prefix.as_ref().map_or("forecourt:".into(), |p| p.get_ref().clone()),
    };
    if let Some(running) = cx.state.services.get::<Redis>().filter(|r| r.spec == spec) {
        return Some(running);
    }
    match Redis::start(spec) {
        Ok(redis) => Some(redis),
        Err(e) => {
            let at = match (&model.url, &model.cluster) {
                (Some(url), _) => url.span(),
                (None, cluster) => cluster.as_ref().map_or(table.span(), |c| c.span()),
            };
            cx.error(&Spanned::new(at, ()), e, Some(URL_FORMS.into()));
            None
        }
    }
}

const URL_FORMS: &str = "write redis://HOST:PORT, redis://:PASSWORD@HOST:PORT/DB or rediss://";

/// `url` (one server) or `cluster` (seed nodes), not both.
fn servers(cx: &mut Ctx<'_>, table: &Spanned<RedisCfg>) -> Option<Servers> {
    match (&table.get_ref().url, &table.get_ref().cluster) {
        (Some(url), None) => Some(Servers::One(url.get_ref().clone())),
        (None, Some(seeds)) if seeds.get_ref().is_empty() => {
            cx.error(
                seeds,
                "names no node",
                Some("list some of the cluster's nodes: [\"redis://HOST:PORT\", …]".into()),
            );
            None
        }
        (None, Some(seeds)) => Some(Servers::Cluster(seeds.get_ref().iter().map(|s| s.get_ref().clone()).collect())),
        (Some(_), Some(seeds)) => {
            cx.error(
                seeds,
                "`url` and `cluster` exclude each other",
                Some("one server: `url`; a Redis Cluster: `cluster`".into()),
            );
            None
        }
        (None, None) => {
            cx.error(
                table,
                "says neither `url` nor `cluster`",
                Some("url = \"redis://HOST:PORT\" (one server) or cluster = [\"redis://HOST:PORT\", …]".into()),
            );
            None
        }
    }
}

/// After a config compiled whole: its Redis is the process's (for `/metrics`).
pub fn commit(cx: &Ctx<'_>, redis: Option<&Arc<Redis>>) {
    match redis {
        Some(r) => cx.state.services.set(r.clone()),
        None => cx.state.services.remove::<Redis>(),
    }
}
