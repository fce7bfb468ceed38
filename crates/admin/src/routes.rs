//! `GET /api/routes`: the running config's chains as `forecourt explain` shows them: the
//! front chain, then each route in file order with its conditions, its chain (every
//! filter's kind, phases and parameters, in order) and its action.
use forecourt_proxy::action::Action;
use forecourt_proxy::filter::{Chain, FilterInfo};
use forecourt_proxy::forward::Target;
use forecourt_proxy::route::Route;
use forecourt_proxy::Runtime;
use serde_json::{json, Map, Value};

pub fn describe(rt: &Runtime) -> Value {
    let routes: Vec<Value> = rt.router.routes().iter().map(|r| route(r)).collect();
    json!({ "front": chain(&rt.front), "routes": routes })
}

fn route(r: &Route) -> Value {
    let headers: Map<String, Value> =
        r.headers.iter().map(|h| h.describe()).map(|(name, want)| (name.to_string(), Value::from(want))).collect();
    json!({
        "name": r.name,
        "hosts": r.hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "path": r.path.to_string(),
        "methods": r.methods.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "headers": headers,
        "filters": chain(&r.chain),
        "action": action(&r.action),
    })
}

/// Each filter, in order.
pub fn chain(chain: &Chain) -> Value {
    Value::Array(chain.describe().iter().map(filter).collect())
}

fn filter(info: &FilterInfo) -> Value {
    let params: Map<String, Value> =
        info.params.iter().map(|(k, v)| (k.to_string(), Value::from(v.as_str()))).collect();
    json!({ "kind": info.kind, "label": info.label(), "phases": info.phases.names(), "params": params })
}

fn action(action: &Action) -> Value {
    match action {
        Action::Forward(forward) => {
            let mut out = json!({
                "type": "forward",
                "retry_buffer": forward.replay.max_body,
                "retry_non_idempotent": forward.replay.any_method,
                "request_buffer": forward.buffer,
            });
            match &forward.to {
                Target::Group(group) => out["upstream"] = Value::from(group.name.as_str()),
                Target::Split(split) => {
                    let sides: Vec<Value> = split
                        .targets()
                        .iter()
                        .map(|t| {
                            json!({
                                "upstream": t.group.name,
                                "weight": t.weight,
                                "when_header": t.when_header.as_ref().map(|(n, v)| format!("{n}: {v}")),
                                "when_cookie": t.when_cookie.as_ref().map(|(n, v)| format!("{n}={v}")),
                            })
                        })
                        .collect();
                    out["split"] = Value::Array(sides);
                }
            }
            out
        }
        Action::Respond { status, body } => {
            json!({ "type": "respond", "status": status.as_u16(), "body_bytes": body.len() })
        }
        Action::Redirect { status, to } => json!({ "type": "redirect", "status": status.as_u16(), "to": to }),
    }
}
