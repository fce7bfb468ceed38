//! `[upstream.NAME.health]`, `.eject` and `.retry`, and `slow_start` → [`GroupPolicies`].
use super::Ctx;
use crate::model::{EjectCfg, HealthCfg, RetryCfg, StatusRange, UpstreamCfg};
use forecourt_upstream::health::{HealthCheck, HttpProbe, Probe};
use forecourt_upstream::limit::Limits;
use forecourt_upstream::outlier::EjectPolicy;
use forecourt_upstream::retry::RetryPolicy;
use forecourt_upstream::GroupPolicies;
use std::time::Duration;
use toml::Spanned;

/// `None` after an error (reported).
pub fn compile(cx: &mut Ctx<'_>, name: &str, u: &UpstreamCfg) -> Option<GroupPolicies> {
    let errors = cx.errors.len();
    let policies = GroupPolicies {
        retry: u.retry.as_ref().map(|r| retry(cx, name, r.get_ref())).unwrap_or_default(),
        eject: match &u.eject {
            None => Some(EjectPolicy::default()),
            Some(e) => eject(cx, name, e.get_ref()),
        },
        health: u.health.as_ref().map(|h| health(cx, name, h.get_ref())),
        slow_start: cx.duration(&u.slow_start, Duration::ZERO),
        limits: limits(cx, name, u),
    };
    (cx.errors.len() == errors).then_some(policies)
}

fn limits(cx: &mut Ctx<'_>, name: &str, u: &UpstreamCfg) -> Option<Limits> {
    let Some(max) = &u.max_requests else {
        if u.queue.is_some() || u.queue_timeout.is_some() {
            let at = u.queue_timeout.as_ref().map_or(u.servers.span(), |t| t.span());
            cx.errors.push(cx.source.at(at, format!("`queue` in upstream `{name}` needs max_requests"), None));
        }
        return None;
    };
    if *max.get_ref() == 0 {
        cx.error(max, format!("`max_requests` must be at least 1 (upstream `{name}`)"), None);
        return None;
    }
    Some(Limits {
        max_requests: *max.get_ref(),
        queue: u.queue.unwrap_or(0),
        queue_timeout: cx.duration(&u.queue_timeout, Duration::from_secs(10)),
    })
}

/// The shortest health check interval.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

fn health(cx: &mut Ctx<'_>, name: &str, h: &HealthCfg) -> HealthCheck {
    // A zero period would have the probe loop spin (tokio's interval refuses one), and one
    // of a few microseconds (a slip of the unit) kept a core busy probing an idle server.
    let interval = cx.positive_duration(&h.interval, Duration::from_secs(5));
    if let Some(at) = h.interval.as_ref().filter(|_| !interval.is_zero() && interval < MIN_INTERVAL) {
        let hint = "a server's failures between checks are caught by passive ejection ([upstream.NAME.eject])";
        cx.error(at, format!("a health check interval is at least 100ms (upstream `{name}`)"), Some(hint.into()));
    }
    let timeout = cx.positive_duration(&h.timeout, Duration::from_secs(2).min(interval));
    let probe = match h.kind.as_ref().map(|k| (k, k.get_ref().as_str())) {
        Some((_, "tcp")) => {
            for (field, set) in [("path", h.path.is_some()), ("status", h.status.is_some()), ("body", h.body.is_some())]
            {
                if set {
                    let at = h.kind.as_ref().expect("kind is tcp");
                    cx.error(at, format!("`{field}` has no meaning for a tcp check (upstream `{name}`)"), None);
                }
            }
            Probe::Tcp
        }
        None | Some((_, "http")) => Probe::Http(HttpProbe {
            method: h.method.as_ref().map_or("GET".into(), |m| m.get_ref().to_ascii_uppercase()),
            path: path(cx, name, &h.path),
            host: h.host.clone(),
            expect_status: status_range(cx, name, &h.status),
            expect_body: h.body.clone(),
        }),
        Some((k, other)) => {
            cx.error(
                k,
                format!("unknown health check type `{other}` (upstream `{name}`)"),
                Some("\"http\" or \"tcp\"".into()),
            );
            Probe::Tcp
        }
    };
    HealthCheck {
        probe,
        interval,
        timeout,
        rise: at_least_one(cx, name, "rise", &h.rise, 2),
        fall: at_least_one(cx, name, "fall", &h.fall, 3),
    }
}

fn path(cx: &mut Ctx<'_>, name: &str, p: &Option<Spanned<String>>) -> String {
    let Some(p) = p else { return "/".into() };
    let text = p.get_ref();
    if !text.starts_with('/') || text.bytes().any(|b| b <= b' ' || b == 0x7f) {
        cx.error(
            p,
            format!("health check path `{text}` must start with / and have no spaces (upstream `{name}`)"),
            None,
        );
    }
    text.clone()
}

fn status_range(cx: &mut Ctx<'_>, name: &str, s: &Option<Spanned<StatusRange>>) -> std::ops::RangeInclusive<u16> {
    let Some(s) = s else { return 200..=399 };
    let parsed = match s.get_ref() {
        StatusRange::One(n) => Some((*n, *n)),
        StatusRange::Text(t) => match t.split_once('-') {
            Some((lo, hi)) => lo.trim().parse().ok().zip(hi.trim().parse().ok()),
            None => t.trim().parse().ok().map(|n| (n, n)),
        },
    };
    match parsed {
        Some((lo, hi)) if (100..=599).contains(&lo) && (lo..=599).contains(&hi) => lo..=hi,
        _ => {
            let hint = "a status or a range, e.g. 200 or \"200-399\"";
            cx.error(s, format!("bad expected status (upstream `{name}`)"), Some(hint.into()));
            200..=399
        }
    }
}

fn at_least_one(cx: &mut Ctx<'_>, name: &str, field: &str, v: &Option<Spanned<u32>>, default: u32) -> u32 {
    match v {
        None => default,
        Some(n) if *n.get_ref() >= 1 => *n.get_ref(),
        Some(n) => {
            cx.error(n, format!("`{field}` must be at least 1 (upstream `{name}`)"), None);
            default
        }
    }
}

fn eject(cx: &mut Ctx<'_>, name: &str, e: &EjectCfg) -> Option<EjectPolicy> {
    let d = EjectPolicy::default();
    if e.failures.as_ref().is_some_and(|f| *f.get_ref() == 0) {
        return None;
    }
    let max_share = share(cx, name, "max_percent", &e.max_percent).unwrap_or(d.max_share);
    let statuses = statuses(cx, name, &e.statuses).unwrap_or(d.statuses);
    let base = cx.duration(&e.base_time, d.base);
    Some(EjectPolicy {
        failures: e.failures.as_ref().map_or(d.failures, |f| *f.get_ref()),
        window: cx.duration(&e.window, d.window),
        statuses,
        base,
        max: cx.duration(&e.max_time, d.max).max(base),
        max_share,
    })
}

/// A percentage as a share from 0.0 to 1.0; `None` if unset or wrong (reported).
fn share(cx: &mut Ctx<'_>, name: &str, field: &str, v: &Option<Spanned<u32>>) -> Option<f64> {
    let p = v.as_ref()?;
    if *p.get_ref() > 100 {
        cx.error(p, format!("`{field}` is a share from 0 to 100 (upstream `{name}`)"), None);
        return None;
    }
    Some(f64::from(*p.get_ref()) / 100.0)
}

fn statuses(cx: &mut Ctx<'_>, name: &str, s: &Option<Spanned<Vec<u16>>>) -> Option<Vec<u16>> {
    let s = s.as_ref()?;
    if let Some(bad) = s.get_ref().iter().find(|&&c| !(100..=599).contains(&c)) {
        cx.error(s, format!("{bad} is not an HTTP status (upstream `{name}`)"), None);
    }
    Some(s.get_ref().clone())
}

fn retry(cx: &mut Ctx<'_>, name: &str, r: &RetryCfg) -> RetryPolicy {
    let d = RetryPolicy::default();
    let attempts = match &r.attempts {
        None => d.attempts,
        Some(a) if (1..=10).contains(a.get_ref()) => *a.get_ref(),
        Some(a) => {
            cx.error(a, format!("`attempts` is from 1 (no retries) to 10 (upstream `{name}`)"), None);
            d.attempts
        }
    };
    let budget_ratio = share(cx, name, "budget_percent", &r.budget_percent).unwrap_or(d.budget_ratio);
    let optional = |cx: &mut Ctx<'_>, v: &Option<Spanned<String>>| v.as_ref().map(|_| cx.duration(v, Duration::ZERO));
    RetryPolicy {
        attempts,
        statuses: statuses(cx, name, &r.statuses).unwrap_or(d.statuses),
        on_timeout: r.on_timeout.unwrap_or(d.on_timeout),
        per_try_timeout: optional(cx, &r.per_try_timeout),
        deadline: optional(cx, &r.deadline),
        budget_ratio,
        budget_floor_per_sec: r.budget_min_per_sec.unwrap_or(d.budget_floor_per_sec),
    }
}
