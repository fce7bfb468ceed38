//! `forecourt_redis_up`, `forecourt_redis_errors_total`, `forecourt_redis_fallbacks_total`.
use crate::Redis;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(redis: &Redis, out: &mut String) {
    let s = &redis.shared;
    let _ = writeln!(
        out,
        "# HELP forecourt_redis_up Whether Redis answers (1) or limits and bans use local state (0).\n\
         # TYPE forecourt_redis_up gauge\nforecourt_redis_up {}\n\
         # HELP forecourt_redis_errors_total Calls to Redis that failed or were not answered in time.\n\
         # TYPE forecourt_redis_errors_total counter\nforecourt_redis_errors_total {}\n\
         # HELP forecourt_redis_fallbacks_total Decisions made on local state because Redis was down or late.\n\
         # TYPE forecourt_redis_fallbacks_total counter\nforecourt_redis_fallbacks_total {}",
        u8::from(s.up.load(Ordering::Relaxed)),
        s.errors.load(Ordering::Relaxed),
        s.fallbacks.load(Ordering::Relaxed)
    );
}
