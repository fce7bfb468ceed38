//! The cache's admin API as tests use it: purges, and waiting for the disk tier.
use super::{client, get, send, Reply};
use std::time::Duration;

/// `POST /api/cache/purge` with `body`.
pub async fn purge(admin: &str, body: &str) -> Reply {
    let req = http::Request::post(format!("{admin}/api/cache/purge")).body(body.as_bytes().to_vec().into()).unwrap();
    send(&client(), req).await
}

/// Waits until the disk tier has indexed what is there at startup and holds `objects`.
pub async fn disk_holds(admin: &str, objects: u64) -> bool {
    for _ in 0..250 {
        let api: serde_json::Value = serde_json::from_str(&get(&format!("{admin}/api/cache")).await.body).unwrap();
        if api["disk"]["loaded"] == true && api["disk"]["objects"] == objects {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
