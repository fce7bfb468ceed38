//! `[redis]` compiled: the process's one connection to Redis (`forecourt_redis`). A reload
//! that keeps `[redis]` as it was keeps the running connection; one that changes it starts
//! another (the old one ends with the last snapshot that uses it); one that removes it
//! leaves the limits and bans local.
use super::Ctx;
use crate::model::RedisCfg;
use forecourt_redis::{Redis, RedisSpec};
use std::sync::Arc;
use std::time::Duration;

pub fn compile(cx: &mut Ctx<'_>, model: Option<&RedisCfg>) -> Option<Arc<Redis>> {
    let model = model?;
    let timeout = cx.duration(&model.timeout, Duration::from_millis(100));
    if let (Some(at), true) = (&model.timeout, timeout.is_zero() || timeout > Duration::from_secs(10)) {
        cx.error(at, "must be between 1ms and 10s", None);
    }
    let spec = RedisSpec {
        url: model.url.get_ref().clone(),
        timeout,
        prefix: model.prefix.as_ref().map_or("forecourt:".into(), |p| p.get_ref().clone()),
    };
    if let Some(running) = cx.state.services.get::<Redis>().filter(|r| r.spec == spec) {
        return Some(running);
    }
    match Redis::start(spec) {
        Ok(redis) => Some(redis),
        Err(e) => {
            cx.error(
                &model.url,
                e,
                Some("write redis://HOST:PORT, redis://:PASSWORD@HOST:PORT/DB or rediss://".into()),
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
