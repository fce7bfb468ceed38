//! `GET /api/challenge` (the "under attack" switch and the counters) and `PUT` (or
//! `POST`) `/api/challenge` with `{"under_attack": true|false}`: every worker reads the
//! one switch, from its next request. A reload that changes `under_attack` in the config
//! sets it again; one that does not leaves what the API set, and so does a restart.
use super::{text, Control};
use bytes::Bytes;
use forecourt_edge::challenge::Challenges;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

pub async fn api(req: Request<Incoming>, control: &Control) -> Response<Full<Bytes>> {
    let Some(state) = control.state.services.get::<Challenges>().filter(|c| c.enabled()) else {
        return text(StatusCode::NOT_FOUND, "no [challenge] is configured\n".into(), "text/plain");
    };
    if req.uri().path() != "/api/challenge" {
        return text(StatusCode::NOT_FOUND, "GET|PUT /api/challenge\n".into(), "text/plain");
    }
    match req.method().clone() {
        Method::GET => text(StatusCode::OK, view(&state).to_string(), "application/json"),
        Method::PUT | Method::POST => {
            let body = match http_body_util::Limited::new(req.into_body(), 4 << 10).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return text(StatusCode::BAD_REQUEST, "unreadable body\n".into(), "text/plain"),
            };
            let on = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["under_attack"].as_bool());
            match on {
                Some(on) => {
                    state.switch_under_attack(on);
                    tracing::warn!(under_attack = on, "the admin API switched \"under attack\"");
                    text(StatusCode::OK, view(&state).to_string(), "application/json")
                }
                None => text(StatusCode::BAD_REQUEST, "give {\"under_attack\": true|false}\n".into(), "text/plain"),
            }
        }
        _ => text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into(), "text/plain"),
    }
}

fn view(c: &Challenges) -> Value {
    json!({
        "under_attack": c.under_attack(),
        "issued": c.issued.load(Ordering::Relaxed),
        "passed": c.passed.load(Ordering::Relaxed),
        "failed": c.failed.load(Ordering::Relaxed),
        "passes_accepted": c.admitted.load(Ordering::Relaxed),
    })
}
